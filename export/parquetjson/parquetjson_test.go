package parquetjson_test

import (
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"

	"swemill/export/parquetjson"
	"swemill/export/parquetjson/parquetjsontest"
)

// TestReadFile reads back, as JSON, strings, lists of strings and nulls written by an
// independent writer, with every Arrow buffer released.
func TestReadFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "test-00000-of-00001.parquet")
	parquetjsontest.WriteFile(t, path, []string{"instance_id", "FAIL_TO_PASS", "hints_text"}, [][]any{
		{"octo__calc-1", []string{"tests/test_calc.py::test_add", `quote"d`}, "a hint"},
		{"octo__calc-2", nil, nil},
		{"octo__calc-3", []string{}, ""},
	})
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows, err := parquetjson.ReadFile(path, mem)
	require.NoError(t, err)
	require.Len(t, rows, 3)
	for i, want := range []map[string]string{
		{"instance_id": `"octo__calc-1"`, "FAIL_TO_PASS": `["tests/test_calc.py::test_add", "quote\"d"]`, "hints_text": `"a hint"`},
		{"instance_id": `"octo__calc-2"`, "FAIL_TO_PASS": `null`, "hints_text": `null`},
		{"instance_id": `"octo__calc-3"`, "FAIL_TO_PASS": `[]`, "hints_text": `""`},
	} {
		require.Len(t, rows[i], len(want), "row %d", i)
		for col, v := range want {
			require.JSONEq(t, v, string(rows[i][col]), "row %d column %s", i, col)
		}
	}
	require.Equal(t, "null", string(rows[1]["FAIL_TO_PASS"]), "a null is JSON null")

	_, err = parquetjson.ReadFile(filepath.Join(t.TempDir(), "missing.parquet"), nil)
	require.Error(t, err)
}
