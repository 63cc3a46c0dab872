package testlog

// ParseCargo reads the output of the cargo test runner. (Being written.)
func ParseCargo(log []byte) Result {
	var b builder
	return b.result()
}
