package testlog

// ParseJest reads the output of the jest test runner. (Being written.)
func ParseJest(log []byte) Result {
	var b builder
	return b.result()
}
