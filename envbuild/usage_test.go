package envbuild

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUsageByLayer(t *testing.T) {
	got := UsageByLayer([]ImageInfo{
		{Name: "a", Layer: LayerInstance, UniqueSize: 5},
		{Name: "b", Layer: LayerBase, UniqueSize: 100},
		{Name: "c", Layer: LayerInstance, UniqueSize: 7},
	})
	require.Equal(t, []LayerUsage{{LayerBase, 1, 100}, {LayerEnv, 0, 0}, {LayerInstance, 2, 12}}, got)
}
