package envbuild

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"swemill/pipeline"
)

// zeros yields n zero bytes without holding them.
func zeros(n int64) io.Reader { return io.LimitReader(zeroReader{}, n) }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// captureEntry is a file of the capture directory: its name, size and content.
type captureEntry struct {
	name string
	size int64
	data io.Reader
}

// captureStream is the tar stream CopyFromContainer gives for a capture directory holding
// entries, written as it is read.
func captureStream(t *testing.T, entries ...captureEntry) io.ReadCloser {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		for _, e := range entries {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "swemill-build/" + e.name, Mode: 0o644, Size: e.size}); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, e.data); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	return pr
}

func layerTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content))}))
		_, err := tw.Write([]byte(content))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func captureBuilder(t *testing.T) *Builder {
	t.Helper()
	b := &Builder{cfg: Config{CacheDir: t.TempDir()}.withDefaults()}
	require.NoError(t, os.MkdirAll(b.tmpDir(), 0o755))
	return b
}

// TestCaptureReadsAreBounded hands layerFromCapture what a hostile build container could
// leave in its capture directory: a layer past the layer limit, a change list past its
// limit, a stream past the whole limit. Each is refused with an error that names the layer
// and the limit, which the build turns into an image_too_large drop; nothing past a limit
// is read into memory or onto disk.
func TestCaptureReadsAreBounded(t *testing.T) {
	t.Parallel()
	lim := captureLimit{what: "install layer of swemill/inst.acme__big-1:0123abcd", layer: 1 << 20, field: "Config.MaxInstanceBytes"}

	t.Run("layer", func(t *testing.T) {
		t.Parallel()
		b := captureBuilder(t)
		r := captureStream(t, captureEntry{"layer.tar", 3 << 20, zeros(3 << 20)})
		defer r.Close()
		_, err := b.layerFromCapture(r, lim)
		var big *outputTooLarge
		require.ErrorAs(t, err, &big)
		assert.Equal(t, "the install layer of swemill/inst.acme__big-1:0123abcd holds 3145728 bytes, over the limit of 1048576 (Config.MaxInstanceBytes)", err.Error())
		d, ok := pipeline.AsDrop(b.buildFailure(t.Context(), "install_failed", "swemill/inst.acme__big-1:0123abcd", err))
		require.True(t, ok)
		assert.Equal(t, "image_too_large", d.Reason)
		assert.Contains(t, d.Detail, "install layer of swemill/inst.acme__big-1")
		left, err := os.ReadDir(b.tmpDir())
		require.NoError(t, err)
		assert.Empty(t, left, "the partial layer is removed")
	})

	t.Run("change list", func(t *testing.T) {
		t.Parallel()
		b := captureBuilder(t)
		r := captureStream(t, captureEntry{"layer.tar", 1024, zeros(1024)}, captureEntry{"deleted", maxChangeListBytes + 1, zeros(maxChangeListBytes + 1)})
		defer r.Close()
		_, err := b.layerFromCapture(r, lim)
		require.ErrorContains(t, err, "the list of paths removed for the install layer of swemill/inst.acme__big-1:0123abcd holds 67108865 bytes, over the limit of 67108864")
	})

	t.Run("whole stream", func(t *testing.T) {
		t.Parallel()
		b := captureBuilder(t)
		small := captureLimit{what: lim.what, layer: 1024}
		// A bookkeeping file no entry limit covers still counts against the stream's.
		r := captureStream(t, captureEntry{"after", maxCaptureExtraBytes + 4096, zeros(maxCaptureExtraBytes + 4096)})
		defer r.Close()
		_, err := b.layerFromCapture(r, small)
		var big *outputTooLarge
		require.ErrorAs(t, err, &big)
		assert.Contains(t, err.Error(), "the capture directory of the install layer of swemill/inst.acme__big-1:0123abcd holds more than")
	})

	t.Run("within the limits", func(t *testing.T) {
		t.Parallel()
		b := captureBuilder(t)
		layer := layerTar(t, map[string]string{"./testbed/built.txt": "ok\n"})
		deleted := "./testbed/old.txt\x00./opt/gone\x00"
		r := captureStream(t, captureEntry{"before", 5, strings.NewReader("a\x00b\x00\x00")},
			captureEntry{"layer.tar", int64(len(layer)), bytes.NewReader(layer)},
			captureEntry{"deleted", int64(len(deleted)), strings.NewReader(deleted)})
		defer r.Close()
		l, err := b.layerFromCapture(r, lim)
		require.NoError(t, err)
		defer os.Remove(l.path)
		f, err := os.Open(l.path)
		require.NoError(t, err)
		defer f.Close()
		var names []string
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			names = append(names, h.Name)
		}
		assert.Equal(t, []string{"testbed/built.txt", "opt/.wh.gone", "testbed/.wh.old.txt"}, names)
		assert.Equal(t, b.tmpDir(), filepath.Dir(l.path))
	})
}
