package envbuild

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/rs/zerolog"

	"swemill/envbuild/sandbox"
	"swemill/pipeline"
)

// Env and instance images are assembled, not built with a Dockerfile: swemill writes their
// layers (library files, the checkout) as tarballs itself, runs recipe steps in a build
// container and captures what they changed as another tarball, and loads the result with
// ImageLoad. This needs no image commit, which on fuse-overlayfs (the storage driver here)
// diffs the whole file system and costs 10-30 s per Dockerfile instruction.

// layerFile is an uncompressed layer tarball in a temporary file.
type layerFile struct {
	path   string
	diffID string // sha256:<hex> of the tarball
	size   int64
}

// newLayer writes a layer whose entries fill adds, owned by uid:gid.
func newLayer(dir string, uid, gid int, fill func(*contextWriter) error) (layerFile, error) {
	f, err := os.CreateTemp(dir, "layer-*.tar")
	if err != nil {
		return layerFile{}, err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	tw := tar.NewWriter(cw)
	err = fill(&contextWriter{tw: tw, uid: uid, gid: gid})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return layerFile{}, fmt.Errorf("writing layer: %w", err)
	}
	return layerFile{path: f.Name(), diffID: "sha256:" + hex.EncodeToString(h.Sum(nil)), size: cw.n}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// buildCaps are the capabilities a build container keeps: enough for apt and for dropping
// to the sandbox user, nothing that reaches outside the container.
var buildCaps = []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETUID", "SETGID", "KILL"}

// stepError is a build step that ran and failed: bad input.
type stepError struct {
	timedOut bool
	log      []byte
}

func (e *stepError) Error() string {
	if e.timedOut {
		return "build step timed out"
	}
	return "build step failed"
}

// Limits of what a build container hands back besides its layer (captureLimit.layer): the
// container is the repository's and its recipe's, so nothing it writes is trusted.
const (
	// maxChangeListBytes bounds the list of paths a build step removed (NUL-separated; 64 MiB
	// is about a million paths).
	maxChangeListBytes = 64 << 20
	// maxCaptureExtraBytes bounds what the capture directory holds beyond the layer: the
	// change list and the capture script's own path lists.
	maxCaptureExtraBytes = 1 << 30
)

// captureLimit says what a capture's layer is, for errors, and how large it may be.
type captureLimit struct {
	// what names the layer: "install layer of swemill/inst.acme__x-1:0123abcd".
	what string
	// layer is the largest layer.tar accepted, in bytes; field the Config field that sets
	// it ("" for none).
	layer int64
	field string
}

// outputTooLarge is output of a build container past its limit. Like a failing step it is
// the input's fault: the build drops the instance (image_too_large).
type outputTooLarge struct {
	what  string
	size  int64 // -1: more than limit, size unknown
	limit int64
	field string
}

func (e *outputTooLarge) Error() string {
	size := fmt.Sprintf("holds %d bytes", e.size)
	if e.size < 0 {
		size = fmt.Sprintf("holds more than %d bytes", e.limit)
	}
	msg := fmt.Sprintf("%s %s, over the limit of %d", e.what, size, e.limit)
	if e.field != "" {
		msg += " (" + e.field + ")"
	}
	return msg
}

// capReader reads r and fails with err once more than n bytes came.
type capReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n < 0 {
		return 0, c.err
	}
	if int64(len(p)) > c.n+1 {
		p = p[:c.n+1]
	}
	k, err := c.r.Read(p)
	c.n -= int64(k)
	if c.n < 0 {
		return k, c.err
	}
	return k, err
}

// capture runs lib script (with args) in a build container made from img, after copying
// the layers in copyIn into it, and returns the layer of what the script changed, within
// lim. The container's output is appended to buildLog. A script that fails or times out is
// a *stepError; a layer or change list past its limit an *outputTooLarge.
func (b *Builder) capture(ctx context.Context, img string, copyIn []layerFile, env []string, buildLog *bytes.Buffer, log zerolog.Logger, lim captureLimit, script ...string) (layerFile, error) {
	sb, err := sandbox.New(b.api, sandbox.Config{
		RunID: b.cfg.RunID, Worker: b.cfg.Worker, User: "0:0", CapAdd: buildCaps, Network: b.cfg.BuildNetwork != "none",
		Memory: b.cfg.BuildMemory, CPUs: b.cfg.BuildCPUs, PidsLimit: 4096, TmpfsBytes: 4 << 30,
		OutputLimit: 4 << 20,
	}, log)
	if err != nil {
		return layerFile{}, err
	}
	cmd := append([]string{"/bin/bash", libDir + "/capture.sh"}, script...)
	var ca []byte
	if b.cfg.CABundle != "" && b.cfg.BuildNetwork != "none" {
		if ca, err = readCABundle(b.cfg.CABundle); err != nil {
			return layerFile{}, err
		}
		env = append(slices.Clip(env), caEnv()...)
	}
	c, err := sb.Create(ctx, sandbox.Spec{Image: img, Cmd: cmd, Env: env, Timeout: b.cfg.BuildTimeout,
		Labels: map[string]string{sandbox.LabelRole: "build"}})
	if err != nil {
		return layerFile{}, err
	}
	defer func() {
		if err := c.Remove(ctx); err != nil {
			log.Warn().Err(err).Msg("removing build container")
		}
	}()
	if ca != nil {
		if err := c.CopyInTar(ctx, "/", caTar(ca)); err != nil {
			return layerFile{}, err
		}
	}
	for _, l := range copyIn {
		f, err := os.Open(l.path)
		if err != nil {
			return layerFile{}, err
		}
		err = c.CopyInTar(ctx, "/", f)
		f.Close()
		if err != nil {
			return layerFile{}, err
		}
	}
	res, err := c.Run(ctx)
	buildLog.Write(res.Stdout)
	buildLog.Write(res.Stderr)
	if err != nil {
		return layerFile{}, err
	}
	if res.TimedOut || res.ExitCode != 0 {
		if res.OOMKilled {
			fmt.Fprintf(buildLog, "swemill: the build container ran out of memory (%d bytes)\n", b.cfg.BuildMemory)
		}
		fmt.Fprintf(buildLog, "swemill: build step exited with code %d\n", res.ExitCode)
		return layerFile{}, &stepError{timedOut: res.TimedOut, log: buildLog.Bytes()}
	}
	rc, err := c.CopyOut(ctx, "/var/tmp/swemill-build")
	if err != nil {
		return layerFile{}, err
	}
	defer rc.Close()
	return b.layerFromCapture(rc, lim)
}

// layerFromCapture turns the captured directory (a tar holding layer.tar and deleted) into a
// layer: the changed files, without the "./" prefix, plus whiteouts for removed paths. The
// directory comes from the build container, so every read is bounded: layer.tar by
// lim.layer, the change list by maxChangeListBytes, the whole stream by lim.layer +
// maxCaptureExtraBytes; past one, it returns an *outputTooLarge naming lim.what.
func (b *Builder) layerFromCapture(r io.Reader, lim captureLimit) (layerFile, error) {
	raw, err := os.CreateTemp(b.tmpDir(), "capture-*.tar")
	if err != nil {
		return layerFile{}, err
	}
	defer os.Remove(raw.Name())
	defer raw.Close()
	var deleted []byte
	total := lim.layer + maxCaptureExtraBytes
	tr := tar.NewReader(&capReader{r: r, n: total, err: &outputTooLarge{what: "the capture directory of the " + lim.what, size: -1, limit: total}})
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var big *outputTooLarge
		if errors.As(err, &big) {
			return layerFile{}, big
		}
		if err != nil {
			return layerFile{}, fmt.Errorf("reading the captured changes of the %s: %w", lim.what, err)
		}
		switch path.Base(h.Name) {
		case "layer.tar":
			if h.Size > lim.layer {
				return layerFile{}, &outputTooLarge{what: "the " + lim.what, size: h.Size, limit: lim.layer, field: lim.field}
			}
			n, err := io.Copy(raw, io.LimitReader(tr, lim.layer+1))
			if errors.As(err, &big) {
				return layerFile{}, big
			}
			if err != nil {
				return layerFile{}, fmt.Errorf("reading the %s: %w", lim.what, err)
			}
			if n > lim.layer {
				return layerFile{}, &outputTooLarge{what: "the " + lim.what, size: -1, limit: lim.layer, field: lim.field}
			}
		case "deleted":
			if h.Size > maxChangeListBytes {
				return layerFile{}, &outputTooLarge{what: "the list of paths removed for the " + lim.what, size: h.Size, limit: maxChangeListBytes}
			}
			deleted, err = io.ReadAll(io.LimitReader(tr, maxChangeListBytes))
			if errors.As(err, &big) {
				return layerFile{}, big
			}
			if err != nil {
				return layerFile{}, fmt.Errorf("reading the paths removed for the %s: %w", lim.what, err)
			}
		}
	}
	if _, err := raw.Seek(0, io.SeekStart); err != nil {
		return layerFile{}, err
	}
	return newLayer(b.tmpDir(), 0, 0, func(c *contextWriter) error {
		in := tar.NewReader(raw)
		for {
			h, err := in.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("reading captured layer: %w", err)
			}
			h.Name = strings.TrimPrefix(h.Name, "./")
			if h.Name == "" || h.Name == "." || h.Name == "./" {
				continue
			}
			if err := c.tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := io.Copy(c.tw, in); err != nil {
				return err
			}
		}
		for _, p := range whiteouts(deleted) {
			if err := c.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o600, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		return nil
	})
}

// whiteouts returns the whiteout entries for NUL-separated removed paths ("./a/b"), leaving
// out paths under a removed directory.
func whiteouts(deleted []byte) []string {
	var paths []string
	for _, p := range strings.Split(string(deleted), "\x00") {
		p = strings.TrimPrefix(p, "./")
		if p != "" && p != "." {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	removed := map[string]bool{}
	var out []string
	for _, p := range paths {
		under := false
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if removed[d] {
				under = true
				break
			}
		}
		if under {
			continue
		}
		removed[p] = true
		out = append(out, path.Join(path.Dir(p), ".wh."+path.Base(p)))
	}
	return out
}

// imageConfig is the configuration of an image in a docker-archive tarball.
type imageConfig struct {
	Architecture string                           `json:"architecture"`
	OS           string                           `json:"os"`
	Variant      string                           `json:"variant,omitempty"`
	Created      time.Time                        `json:"created"`
	Config       *dockerspec.DockerOCIImageConfig `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []historyEntry `json:"history,omitempty"`
}

type historyEntry struct {
	Created    time.Time `json:"created"`
	CreatedBy  string    `json:"created_by"`
	EmptyLayer bool      `json:"empty_layer,omitempty"`
}

type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// loadImage loads the image made of parent's layers plus layers, with parent's configuration
// changed by edit, tagged name, and returns its id. Only the new layers travel: the engine
// finds the parent's by their chain ids.
func (b *Builder) loadImage(ctx context.Context, parent image.InspectResponse, layers []layerFile, name string, comments []string, edit func(*dockerspec.DockerOCIImageConfig)) (string, error) {
	cfg := imageConfig{Architecture: parent.Architecture, OS: parent.Os, Variant: parent.Variant, Created: time.Now().UTC().Truncate(time.Second)}
	conf := dockerspec.DockerOCIImageConfig{}
	if parent.Config != nil {
		conf = *parent.Config
	}
	labels := map[string]string{}
	for k, v := range conf.Labels {
		labels[k] = v
	}
	conf.Labels = labels
	conf.Env = append([]string(nil), conf.Env...)
	edit(&conf)
	cfg.Config = &conf
	cfg.RootFS.Type = "layers"
	var paths []string
	for i, d := range parent.RootFS.Layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, d)
		paths = append(paths, fmt.Sprintf("parent/%d/layer.tar", i)) // not sent: the engine has it
		cfg.History = append(cfg.History, historyEntry{Created: cfg.Created, CreatedBy: "swemill: layer of " + parent.ID})
	}
	for i, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		paths = append(paths, fmt.Sprintf("new/%d/layer.tar", i))
		cfg.History = append(cfg.History, historyEntry{Created: cfg.Created, CreatedBy: "swemill: " + comments[i]})
	}
	configJSON, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	manifest, err := json.Marshal([]manifestEntry{{Config: "config.json", RepoTags: []string{name}, Layers: paths}})
	if err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tw := tar.NewWriter(pw)
		err := func() error {
			c := &contextWriter{tw: tw}
			if err := c.file("config.json", 0o644, configJSON); err != nil {
				return err
			}
			if err := c.file("manifest.json", 0o644, manifest); err != nil {
				return err
			}
			for i, l := range layers {
				f, err := os.Open(l.path)
				if err != nil {
					return err
				}
				err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("new/%d/layer.tar", i), Mode: 0o644, Size: l.size, ModTime: epoch})
				if err == nil {
					_, err = io.CopyN(tw, f, l.size)
				}
				f.Close()
				if err != nil {
					return err
				}
			}
			return tw.Close()
		}()
		pw.CloseWithError(err)
	}()
	resp, err := b.api.ImageLoad(ctx, pr, client.ImageLoadWithQuiet(true))
	if err == nil {
		var out bytes.Buffer
		_, err = readStream(resp.Body, &out)
		resp.Body.Close()
	}
	pr.CloseWithError(errors.New("load finished"))
	wg.Wait()
	if err != nil {
		return "", fmt.Errorf("loading image %s: %w", name, err)
	}
	sum := sha256.Sum256(configJSON)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// buildFailure maps a failed step to a drop, or returns the error as it is.
func (b *Builder) buildFailure(ctx context.Context, reason, name string, err error) error {
	var big *outputTooLarge
	if errors.As(err, &big) {
		return pipeline.Drop("image_too_large", "%s", big)
	}
	var se *stepError
	if errors.As(err, &se) {
		if se.timedOut {
			return pipeline.Drop("build_timeout", "building %s took longer than %s: %s", name, b.cfg.BuildTimeout, tail(se.log, b.cfg.LogTailBytes))
		}
		return pipeline.Drop(reason, "%s", tail(se.log, b.cfg.LogTailBytes))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("building image %s: %w", name, context.Cause(ctx))
	}
	return fmt.Errorf("building image %s: %w", name, err)
}

// caPath is where a build container finds Config.CABundle. /var/tmp is outside what
// capture.sh records, and the file predates its stamp, so it never reaches a layer.
const caPath = "/var/tmp/swemill-ca.pem"

// maxCABundleBytes bounds Config.CABundle (Debian's whole bundle is about 200 KB).
const maxCABundleBytes = 16 << 20

func readCABundle(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("build CA bundle: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCABundleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("build CA bundle %s: %w", path, err)
	}
	if len(data) > maxCABundleBytes || !bytes.Contains(data, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("build CA bundle %s: not a PEM certificate file of at most %d bytes", path, maxCABundleBytes)
	}
	return data, nil
}

// caEnv points the usual TLS clients of build steps (Go, pip, requests, git, curl, Node) at caPath.
func caEnv() []string {
	var env []string
	for _, k := range []string{"SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "GIT_SSL_CAINFO", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"} {
		env = append(env, k+"="+caPath)
	}
	return env
}

// caTar is a tar holding data at caPath, world-readable, dated at the epoch.
func caTar(data []byte) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(caPath, "/"), Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX})
	_, _ = tw.Write(data)
	_ = tw.Close()
	return &buf
}
