package sandbox

import (
	units "github.com/docker/go-units"
)

// Sizes are written and read as the Docker CLI writes and reads them, so that a limit in
// swemill's configuration or messages reads as it would in `docker run` or `docker images`.

// FormatBytes writes n bytes in binary units, as limits are written: "64MiB", "1.5GiB".
func FormatBytes(n int64) string { return units.BytesSize(float64(n)) }

// FormatSize writes n bytes in decimal units, as `docker images` writes image sizes: "1.2GB".
func FormatSize(n int64) string { return units.HumanSize(float64(n)) }

// ParseBytes reads a size as `docker run --memory` does: a number with an optional unit
// (b, k, m, g, t or p, any case, with an optional "b" or "ib" after it), each unit 1024 times
// the last, so "500MB" and "500MiB" are both 500 MiB.
func ParseBytes(s string) (int64, error) { return units.RAMInBytes(s) }
