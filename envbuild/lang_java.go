package envbuild

// javaBase is the Java base: Debian's JDK and Maven, with the JUnit and Surefire artefacts
// Debian ships in its Maven repository (/usr/share/maven-repo).
var javaBase = langBase{
	packages: []string{"default-jdk-headless", "maven", "junit4", "junit5", "libsurefire-java"},
	env: []string{
		"MAVEN_OPTS=-Djava.awt.headless=true",
	},
	setup: `set -eu
mkdir -p /home/swemill/.m2
java -version
mvn --version
`,
	check: "java -version 2>&1 && mvn --version",
}
