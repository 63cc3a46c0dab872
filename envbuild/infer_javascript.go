package envbuild

import "swemill/pipeline"

// inferJavaScript makes a Jest recipe. (Being written.)
func inferJavaScript(dir string, opts InferOptions) (pipeline.Recipe, error) {
	return pipeline.Recipe{Language: "javascript", TestCmd: "jest --ci", LogParser: "jest"}, nil
}
