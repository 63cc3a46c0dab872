package envbuild_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/envbuild"
	"swemill/testlog"
)

const javaPom = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>a</groupId><artifactId>b</artifactId><version>1</version>
  <properties><maven.compiler.source>%s</maven.compiler.source><maven.compiler.target>%s</maven.compiler.target></properties>
</project>
`

func writePom(t *testing.T, level string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pom.xml"), []byte(fmtPom(level)), 0o644))
	return dir
}

func fmtPom(level string) string { return strings.ReplaceAll(javaPom, "%s", level) }

func TestInferJava(t *testing.T) {
	t.Parallel()
	dir := writePom(t, "1.8")
	online, err := envbuild.InferRecipe(dir, envbuild.InferOptions{})
	require.NoError(t, err)
	assert.Equal(t, "java", online.Language)
	assert.Equal(t, testlog.Maven, online.LogParser)
	assert.Equal(t, "mvn -o -B test", online.TestCmd)
	assert.Equal(t, "1.8", online.LanguageVersion)
	assert.Equal(t, []string{"mvn -B test -Dmaven.test.failure.ignore=true -DfailIfNoTests=false", "mvn -B -q clean"}, online.Install)
	assert.Empty(t, online.Skipped)
	require.NoError(t, envbuild.ValidateRecipe(online))

	offline, err := envbuild.InferRecipe(dir, envbuild.InferOptions{Offline: true})
	require.NoError(t, err)
	assert.Equal(t, online.TestCmd, offline.TestCmd)
	assert.Equal(t, []string{"swemill-debian-maven -B test -Dmaven.test.failure.ignore=true -DfailIfNoTests=false", "swemill-debian-maven -B -q clean"}, offline.Install)
	require.Len(t, offline.Skipped, 1)
	assert.Contains(t, offline.Skipped[0].Reason, "Debian's Maven repository")
	require.NoError(t, envbuild.ValidateRecipe(offline))
	assert.Equal(t, "mvn -o -B test -pl core -am -Dtest=a.FooTest -Dsurefire.failIfNoSpecifiedTests=false",
		testlog.Command(offline.LogParser, offline.TestCmd, []string{"core/src/test/java/a/FooTest.java"}))
}

func TestInferJavaOldSourceLevel(t *testing.T) {
	t.Parallel()
	r, err := envbuild.InferRecipe(writePom(t, "1.6"), envbuild.InferOptions{Offline: true})
	require.NoError(t, err)
	assert.Equal(t, "mvn -o -B test -Dmaven.compiler.source=8 -Dmaven.compiler.target=8", r.TestCmd)
	assert.Contains(t, r.Install[0], "-Dmaven.compiler.source=8")
	require.Len(t, r.Skipped, 2)
	// A level that is not a number never reaches a command.
	r, err = envbuild.InferRecipe(writePom(t, "1.6; rm -rf /"), envbuild.InferOptions{})
	require.NoError(t, err)
	assert.Equal(t, "mvn -o -B test", r.TestCmd)
	assert.Empty(t, r.LanguageVersion)
}
