package difftext

import "testing"

// TestIsTestJava checks Maven's layout and JUnit's names: everything under src/test/ (the
// sources and the resources of the tests) is test, and so are test classes by name outside it.
func TestIsTestJava(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{
		"src/test/java/com/acme/FooTest.java":               true,
		"src/test/java/com/acme/Helper.java":                true,
		"src/test/resources/fixtures/input.json":            true,
		"core/src/test/java/a/b/BarTests.java":              true,
		"core/src/test/resources/log4j2-test.xml":           true,
		"module/src/it/java/x/FooIT.java":                   true,
		"lib/TestParser.java":                               true,
		"src/main/java/com/acme/Foo.java":                   false,
		"src/main/java/com/acme/Testing.java":               false,
		"src/main/java/com/acme/Contest.java":               false,
		"src/main/resources/application.properties":         false,
		"core/src/main/java/com/acme/TestimonyBuilder.java": false,
		"pom.xml":      false,
		"core/pom.xml": false,
	} {
		if got := IsTest(p); got != want {
			t.Errorf("IsTest(%q) = %v, want %v", p, got, want)
		}
	}
}
