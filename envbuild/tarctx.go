package envbuild

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"
)

// contextWriter writes a build context as a tar stream. Entries get fixed times and owners so
// the same inputs give the same bytes.
type contextWriter struct {
	tw       *tar.Writer
	uid, gid int // owner of every entry
}

// epoch is the time of every entry: fixed, and after the Unix epoch, because tools that
// copy a file only when it is newer than its copy treat a missing copy as dated 0 and would
// skip a file dated 0 (Maven's resources plugin then fails on the copy it never made).
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// dir adds a directory.
func (c *contextWriter) dir(name string, mode int64) error {
	return c.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode,
		ModTime: epoch, Format: tar.FormatPAX, Uid: c.uid, Gid: c.gid})
}

// file adds a regular file with the given mode.
func (c *contextWriter) file(name string, mode int64, data []byte) error {
	if err := c.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)),
		ModTime: epoch, Format: tar.FormatPAX, Uid: c.uid, Gid: c.gid,
	}); err != nil {
		return err
	}
	_, err := c.tw.Write(data)
	return err
}

// tree adds the directory src under the name prefix, keeping modes and symbolic links.
// skip, when not nil, is asked about every slash-separated path relative to src.
func (c *contextWriter) tree(src, prefix string, skip func(rel string, d fs.DirEntry) bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != "." && skip != nil && skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		name := prefix
		if rel != "." {
			name = path.Join(prefix, rel)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: name, ModTime: epoch, Format: tar.FormatPAX, Uid: c.uid, Gid: c.gid}
		switch {
		case d.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", 0o755
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, target, 0o777
		case info.Mode().IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
			hdr.Mode = 0o644
			if info.Mode()&0o111 != 0 {
				hdr.Mode = 0o755
			}
		default:
			return nil // sockets, devices: never part of a context
		}
		if err := c.tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyN(c.tw, f, hdr.Size)
		return err
	})
}
