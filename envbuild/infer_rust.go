package envbuild

import "swemill/pipeline"

// inferRust makes a cargo recipe. (Being written.)
func inferRust(dir string, opts InferOptions) (pipeline.Recipe, error) {
	r := pipeline.Recipe{Language: "rust", TestCmd: "cargo test --no-fail-fast", LogParser: "cargo"}
	if opts.Offline {
		r.Env = map[string]string{"CARGO_NET_OFFLINE": "true"}
	}
	return r, nil
}
