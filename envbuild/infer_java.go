package envbuild

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"swemill/pipeline"
)

// Maven commands of Java recipes.
const (
	// mavenTestCmd runs the tests offline (the sandbox has no network): everything they need
	// is in the local repository (~/.m2/repository) from the install.
	mavenTestCmd = "mvn -o -B test"
	// mavenWarmFlags make the install's test run resolve everything the tests need (Surefire
	// resolves its JUnit provider only when it runs tests) without failing on a failing test.
	mavenWarmFlags = "-B test -Dmaven.test.failure.ignore=true -DfailIfNoTests=false"
	// mavenCleanFlags remove what the install's build left in target/, so that every test
	// run compiles the tree it tests (a test file a patch removes leaves no class behind).
	mavenCleanFlags = "-B -q clean"
	// mavenDebian runs mvn through the Debian Maven mirror (the Java base's
	// swemill-debian-maven): every repository is answered from /usr/share/maven-repo.
	mavenDebian = "swemill-debian-maven"
)

// Reasons recorded in the Skipped of Java recipes.
const (
	reasonMavenDebian = "offline: Maven Central is out of reach; plugins and dependencies resolve from Debian's Maven repository (/usr/share/maven-repo) through swemill-debian-maven, a version Debian lacks answered with one it has, and the build fails on an artifact Debian does not ship"
	reasonOldJava     = "JDK 17 compiles Java 7 and later; the source and target levels are raised to 8 with -D (this works only where the POM sets them as properties)"
)

// pomProject is what inference reads of a pom.xml.
type pomProject struct {
	Properties struct {
		Entries []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	} `xml:"properties"`
}

// javaLevelRe matches a Java source or target level as POMs write it: "1.6", "8", "17".
var javaLevelRe = regexp.MustCompile(`^(1\.)?([0-9]{1,2})$`)

// inferJava makes a Maven recipe for a repository with a pom.xml. The install runs the
// tests once, failures ignored, so that Maven puts every plugin, dependency and Surefire
// provider the tests need into the local repository, then removes the build's output
// (mvn clean); the tests then run offline (mvn -o). Online the install resolves from Maven
// Central; offline it resolves from Debian's Maven repository through swemill-debian-maven
// (see reasonMavenDebian). A POM whose Java source or target level (as the properties
// maven.compiler.source, maven.compiler.target) is below 7 gets both raised to 8 with -D,
// which JDK 17 can compile.
func inferJava(dir string, opts InferOptions) (pipeline.Recipe, error) {
	data, err := os.ReadFile(filepath.Join(dir, "pom.xml"))
	if err != nil {
		return pipeline.Recipe{}, err
	}
	var pom pomProject
	// An unreadable POM is Maven's to report when the tests run.
	_ = xml.Unmarshal(data, &pom)
	r := pipeline.Recipe{Language: "java", TestCmd: mavenTestCmd, LogParser: "maven"}
	var flags []string
	for _, p := range pom.Properties.Entries {
		switch p.XMLName.Local {
		case "maven.compiler.source", "maven.compiler.target", "maven.compiler.release":
			m := javaLevelRe.FindStringSubmatch(strings.TrimSpace(p.Value))
			if m == nil {
				continue
			}
			level, _ := strconv.Atoi(m[2])
			if r.LanguageVersion == "" || p.XMLName.Local != "maven.compiler.target" {
				r.LanguageVersion = strings.TrimSpace(p.Value)
			}
			if level < 7 && len(flags) == 0 {
				flags = []string{"-Dmaven.compiler.source=8", "-Dmaven.compiler.target=8"}
				r.Skipped = append(r.Skipped, pipeline.SkippedStep{What: "Java " + strings.TrimSpace(p.Value) + " source level", Reason: reasonOldJava})
			}
		}
	}
	extra := ""
	if len(flags) > 0 {
		extra = " " + strings.Join(flags, " ")
		r.TestCmd += extra
	}
	mvn := "mvn"
	if opts.Offline {
		mvn = mavenDebian
		r.Skipped = append(r.Skipped, pipeline.SkippedStep{What: "mvn " + mavenWarmFlags + " (from Maven Central)", Reason: reasonMavenDebian})
	}
	r.Install = []string{mvn + " " + mavenWarmFlags + extra, mvn + " " + mavenCleanFlags}
	return r, nil
}
