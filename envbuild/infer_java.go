package envbuild

import "swemill/pipeline"

// inferJava makes a Maven recipe. (Being written.)
func inferJava(dir string, opts InferOptions) (pipeline.Recipe, error) {
	return pipeline.Recipe{Language: "java", TestCmd: "mvn -B test", LogParser: "maven"}, nil
}
