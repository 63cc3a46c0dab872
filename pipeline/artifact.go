package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Artifacts is a content-addressed file store: each file lives at sha256/<2 hex>/<62 hex>
// under its directory and is written atomically (a temporary file, fsync, rename), so a crash
// never leaves a partial artifact under its final name. Storing the same content twice stores
// it once. Artifacts is safe for concurrent use by several goroutines and processes.
type Artifacts struct {
	dir string
}

// OpenArtifacts returns the store rooted at dir, creating it if needed.
func OpenArtifacts(dir string) (*Artifacts, error) {
	for _, d := range []string{filepath.Join(dir, "sha256"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating artifact directory %s: %w", d, err)
		}
	}
	return &Artifacts{dir: dir}, nil
}

// ArtifactsAt returns the store rooted at dir without creating anything: for readers of a
// run that may not be written to.
func ArtifactsAt(dir string) *Artifacts { return &Artifacts{dir: dir} }

// Dir returns the store's root directory.
func (a *Artifacts) Dir() string { return a.dir }

// Put stores data under a name and returns its reference.
func (a *Artifacts) Put(name string, data []byte) (ArtifactRef, error) {
	return a.PutReader(name, bytes.NewReader(data))
}

// PutReader stores what r yields under a name and returns its reference.
func (a *Artifacts) PutReader(name string, r io.Reader) (ArtifactRef, error) {
	tmp, err := os.CreateTemp(filepath.Join(a.dir, "tmp"), "put-*")
	if err != nil {
		return ArtifactRef{}, fmt.Errorf("storing artifact %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ArtifactRef{}, fmt.Errorf("storing artifact %s: %w", name, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	ref := ArtifactRef{Name: name, Digest: "sha256:" + sum, Size: n}
	final := a.Path(ref.Digest)
	if _, err := os.Stat(final); err == nil {
		return ref, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return ArtifactRef{}, fmt.Errorf("storing artifact %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return ArtifactRef{}, fmt.Errorf("storing artifact %s: %w", name, err)
	}
	if d, err := os.Open(filepath.Dir(final)); err == nil {
		_ = d.Sync() // make the rename durable; best effort on filesystems without dir fsync
		d.Close()
	}
	return ref, nil
}

// Path returns the file path of a digest ("sha256:<hex>"); it does not check that it exists.
func (a *Artifacts) Path(digest string) string {
	hexsum := strings.TrimPrefix(digest, "sha256:")
	if len(hexsum) < 3 {
		return filepath.Join(a.dir, "sha256", "invalid")
	}
	return filepath.Join(a.dir, "sha256", hexsum[:2], hexsum[2:])
}

// Open opens a stored artifact for reading.
func (a *Artifacts) Open(ref ArtifactRef) (io.ReadCloser, error) {
	if !ValidDigest(ref.Digest) {
		return nil, fmt.Errorf("opening artifact %s: invalid digest %q", ref.Name, ref.Digest)
	}
	f, err := os.Open(a.Path(ref.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("opening artifact %s: %s is not in the store", ref.Name, ref.Digest)
	}
	if err != nil {
		return nil, fmt.Errorf("opening artifact %s: %w", ref.Name, err)
	}
	return f, nil
}

// Read returns a stored artifact's content.
func (a *Artifacts) Read(ref ArtifactRef) ([]byte, error) {
	rc, err := a.Open(ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// ValidDigest reports whether d is a well-formed artifact digest ("sha256:" and 64 hex
// digits).
func ValidDigest(d string) bool {
	hexsum, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexsum) != 64 {
		return false
	}
	_, err := hex.DecodeString(hexsum)
	return err == nil
}
