//go:build !cgo

package export

import "testing"

func benchDuckDB(b *testing.B, rows int) {
	b.Skip("DuckDB's side of the benchmark needs cgo (CGO_ENABLED=1 and a C compiler)")
}
