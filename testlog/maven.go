package testlog

// ParseMaven reads the output of the maven test runner. (Being written.)
func ParseMaven(log []byte) Result {
	var b builder
	return b.result()
}
