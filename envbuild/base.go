package envbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/rs/zerolog"
)

// rootfsScriptVersion changes whenever the way the debootstrap root filesystem is made
// changes; baseScriptVersion whenever the image made from it (import changes, Go layer) does.
// Both are part of the base images' hashes.
const (
	rootfsScriptVersion = "1"
	baseScriptVersion   = "4"
)

// DefaultBasePackages are the Debian packages of the Python base image.
var DefaultBasePackages = []string{
	"python3", "python3-pytest", "python3-pip", "python3-setuptools", "python3-venv",
	"git", "build-essential", "ca-certificates",
}

// VenvDir is the Python virtual environment of every Python image, owned by the sandbox user.
const VenvDir = "/opt/venv"

// SandboxUID is the uid (and gid) of the non-root user "swemill" that base images carry,
// that owns the work directory of instance images and that the sandbox runs as by default.
const SandboxUID = 1000

// BaseConfig says how base images are made.
type BaseConfig struct {
	// CacheDir holds the debootstrap output, one tarball per base hash
	// (<CacheDir>/debootstrap/<hash>.tar), and the downloaded .deb files
	// (<CacheDir>/debootstrap/debs), so a second build costs seconds. Required.
	CacheDir string
	// Mirror is the Debian mirror debootstrap downloads from. Default
	// "http://deb.debian.org/debian".
	Mirror string
	// Suite is the Debian release. Default "bookworm".
	Suite string
	// Packages are the Debian packages of the Python base. Default DefaultBasePackages.
	Packages []string
	// GoRoot is a Go installation on this machine copied into the Go base image. Default
	// "/usr/local/go".
	GoRoot string
	// SkipGo leaves the Go base out.
	SkipGo bool
	// PythonImage and GoImage, when set, name ready base images (e.g. pulled from a
	// registry) used as they are instead of the bootstrapped ones. They must carry python3,
	// pip and venv (Go: a go toolchain on PATH), git, and a user with uid SandboxUID.
	PythonImage, GoImage string
	// Images name ready base images of the other languages (javascript, rust, java), used as
	// they are like PythonImage.
	Images map[string]string
	// Languages are the languages whose bases are made and named, besides Python (always);
	// empty means every one of Languages. SkipGo leaves Go out whatever this says.
	Languages []string
	// Version is swemill's version, written into labels. Default "dev".
	Version string
	// Timeout bounds the making of one base image. Default 30 minutes.
	Timeout time.Duration
}

func (c BaseConfig) withDefaults() BaseConfig {
	if c.Mirror == "" {
		c.Mirror = "http://deb.debian.org/debian"
	}
	if c.Suite == "" {
		c.Suite = "bookworm"
	}
	if len(c.Packages) == 0 {
		c.Packages = DefaultBasePackages
	}
	if c.GoRoot == "" {
		c.GoRoot = "/usr/local/go"
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Minute
	}
	return c
}

// Validate reports the first field that is not usable.
func (c BaseConfig) Validate() error {
	c = c.withDefaults()
	if c.CacheDir == "" && c.PythonImage == "" {
		return errors.New("BaseConfig.CacheDir: required to bootstrap base images")
	}
	if !validDebName(c.Suite) {
		return fmt.Errorf("BaseConfig.Suite: %q is not a Debian suite name", c.Suite)
	}
	for _, p := range c.Packages {
		if !validDebName(p) {
			return fmt.Errorf("BaseConfig.Packages: %q is not a Debian package name", p)
		}
	}
	if !strings.HasPrefix(c.Mirror, "http://") && !strings.HasPrefix(c.Mirror, "https://") && !strings.HasPrefix(c.Mirror, "file:///") {
		return fmt.Errorf("BaseConfig.Mirror: %q is not an http(s) or file URL", c.Mirror)
	}
	if strings.ContainsAny(c.Mirror, " \t\n'\"") {
		return fmt.Errorf("BaseConfig.Mirror: %q contains blanks or quotes", c.Mirror)
	}
	if c.Timeout < 0 {
		return errors.New("BaseConfig.Timeout: negative")
	}
	return validLanguages(c.Languages)
}

// BaseImage is a base image: an operating system with a language toolchain.
type BaseImage struct {
	// Language is one of Languages.
	Language string
	// Name is the image reference ("swemill/base-python:<hash>").
	Name string
	// ID is the engine's image id.
	ID string
	// Key is the hash of what made the image (package list, suite, script version, Go
	// version); empty for configured images.
	Key string
	// Built is false when the image already existed.
	Built bool
	// Seconds is the time spent.
	Seconds float64
}

// BaseNames returns the base image names cfg gives, by language (Languages), without
// building anything.
func BaseNames(cfg BaseConfig) (map[string]string, error) {
	cfg = cfg.withDefaults()
	if err := validLanguages(cfg.Languages); err != nil {
		return nil, err
	}
	names := map[string]string{}
	pyKey := pythonBaseKey(cfg)
	if cfg.PythonImage != "" {
		names["python"] = cfg.PythonImage
	} else {
		names["python"] = "swemill/base-python:" + pyKey[:16]
	}
	if cfg.wantLanguage("go") {
		if cfg.GoImage != "" {
			names["go"] = cfg.GoImage
		} else {
			goVersion, err := hostGoVersion(cfg.GoRoot)
			if err != nil {
				return nil, err
			}
			names["go"] = "swemill/base-go:" + goBaseKey(pyKey, names["python"], goVersion)[:16]
		}
	}
	for _, lang := range Languages {
		lb, ok := langBases[lang]
		if !ok || !cfg.wantLanguage(lang) {
			continue
		}
		if cfg.Images[lang] != "" {
			names[lang] = cfg.Images[lang]
			continue
		}
		names[lang] = "swemill/base-" + lang + ":" + langBaseKey(lang, lb, pyKey, names["python"])[:16]
	}
	return names, nil
}

// rootfsKey is the hash of what makes the debootstrap root filesystem.
func rootfsKey(cfg BaseConfig) string {
	pkgs := append([]string(nil), cfg.Packages...)
	sort.Strings(pkgs)
	return hashOf("swemill base python", "script="+rootfsScriptVersion, "suite="+cfg.Suite,
		"variant=minbase", "packages="+strings.Join(pkgs, ","))
}

// pythonBaseKey is the hash of what makes the Python base image: its root filesystem and
// the image configuration given at import.
func pythonBaseKey(cfg BaseConfig) string {
	return hashOf("swemill base python image", "rootfs="+rootfsKey(cfg), "script="+baseScriptVersion)
}

func goBaseKey(pyKey, pyName, goVersion string) string {
	return hashOf("swemill base go", "script="+baseScriptVersion, "python="+pyKey, "from="+pyName, "go="+goVersion)
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func hostGoVersion(goroot string) (string, error) {
	data, err := os.ReadFile(filepath.Join(goroot, "VERSION"))
	if err != nil {
		return "", fmt.Errorf("reading Go version of %s: %w", goroot, err)
	}
	v, _, _ := strings.Cut(string(data), "\n")
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, "go") {
		return "", fmt.Errorf("reading Go version of %s: unexpected %q", goroot, v)
	}
	return v, nil
}

// BuildBases makes the base images cfg asks for (Python, then the others on top of it, in
// the order of Languages) unless they exist. On a machine without a registry the Python base
// is a debootstrap root filesystem imported into the engine: about 2-4 minutes cold
// (downloads and unpacks ~200 .deb files), 15-30 s when the debootstrap tarball is cached
// and only the import runs, and well under a second when the images exist. The Go base adds
// the host's toolchain and a warm build cache of common standard packages, about 1-3 minutes
// (mostly compiling); the JavaScript, Rust and Java bases install Debian's packages of their
// toolchains in a build container, a few minutes each (downloads).
func BuildBases(ctx context.Context, api dockerAPI, cfg BaseConfig, log zerolog.Logger) ([]BaseImage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	names, err := BaseNames(cfg)
	if err != nil {
		return nil, err
	}
	var out []BaseImage
	py, err := ensurePythonBase(ctx, api, cfg, names["python"], log)
	if err != nil {
		return nil, err
	}
	out = append(out, py)
	for _, lang := range Languages {
		if lang == "python" || names[lang] == "" {
			continue
		}
		var b BaseImage
		if lang == "go" {
			b, err = ensureGoBase(ctx, api, cfg, py, names["go"], log)
		} else {
			b, err = ensureLangBase(ctx, api, cfg, py, lang, names[lang], log)
		}
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
	return out, nil
}

func ensurePythonBase(ctx context.Context, api dockerAPI, cfg BaseConfig, name string, log zerolog.Logger) (BaseImage, error) {
	start := time.Now()
	b := BaseImage{Language: "python", Name: name}
	if cfg.PythonImage == "" {
		b.Key = pythonBaseKey(cfg)
	}
	if ins, err := api.ImageInspect(ctx, name); err == nil {
		b.ID = ins.ID
		return b, nil
	} else if !errdefs.IsNotFound(err) {
		return b, fmt.Errorf("inspecting base image %s: %w", name, err)
	}
	if cfg.PythonImage != "" {
		return b, fmt.Errorf("finding base image %s: configured but not present in the engine", name)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	tarball, err := rootfsTarball(ctx, cfg, rootfsKey(cfg), log)
	if err != nil {
		return b, fmt.Errorf("building base image %s: %w", name, err)
	}
	f, err := os.Open(tarball)
	if err != nil {
		return b, fmt.Errorf("building base image %s: %w", name, err)
	}
	defer f.Close()
	log.Info().Str("image", name).Str("tarball", tarball).Msg("importing base image")
	changes := []string{
		"ENV PATH=" + VenvDir + "/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"ENV VIRTUAL_ENV=" + VenvDir,
		"ENV PIP_DISABLE_PIP_VERSION_CHECK=1",
		"ENV PIP_NO_INPUT=1",
		"ENV PIP_NO_CACHE_DIR=1",
		"ENV PYTHONDONTWRITEBYTECODE=1",
		"ENV LANG=C.UTF-8",
		"ENV DEBIAN_FRONTEND=noninteractive",
		`CMD ["/bin/bash"]`,
		"WORKDIR /testbed",
		"LABEL " + LabelLayer + "=" + LayerBase,
		"LABEL " + LabelLanguage + "=python",
		"LABEL " + LabelKey + "=" + b.Key,
		"LABEL " + LabelVersion + "=" + labelSafe(cfg.Version),
	}
	rc, err := api.ImageImport(ctx, image.ImportSource{Source: f, SourceName: "-"}, name, image.ImportOptions{
		Message: "swemill base " + b.Key, Changes: changes,
	})
	if err != nil {
		return b, fmt.Errorf("importing base image %s: %w", name, err)
	}
	var logBuf bytes.Buffer
	_, err = readStream(rc, &logBuf)
	rc.Close()
	if err != nil {
		return b, fmt.Errorf("importing base image %s: %w", name, err)
	}
	ins, err := api.ImageInspect(ctx, name)
	if err != nil {
		return b, fmt.Errorf("inspecting base image %s: %w", name, err)
	}
	b.ID, b.Built, b.Seconds = ins.ID, true, time.Since(start).Seconds()
	log.Info().Str("image", name).Float64("seconds", b.Seconds).Msg("base image built")
	return b, nil
}

// labelSafe keeps a value fit for a LABEL line of an import change list.
func labelSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_+", r) {
			return r
		}
		return '_'
	}, s)
}

// rootfsTarball returns the cached debootstrap tarball for key, making it when missing.
// Concurrent callers (goroutines or processes) wait on a file lock.
func rootfsTarball(ctx context.Context, cfg BaseConfig, key string, log zerolog.Logger) (string, error) {
	dir := filepath.Join(cfg.CacheDir, "debootstrap")
	debs := filepath.Join(dir, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", err
	}
	final := filepath.Join(dir, key+".tar")
	unlock, err := lockFile(ctx, filepath.Join(dir, key+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "", errors.New("debootstrap is not installed (apt-get install -y debootstrap)")
	}
	work, err := os.MkdirTemp(dir, "rootfs-")
	if err != nil {
		return "", err
	}
	defer func() {
		// debootstrap leaves a root-owned tree; remove it even when ctx is done.
		_ = os.RemoveAll(work)
	}()
	root := filepath.Join(work, "root")
	start := time.Now()
	log.Info().Str("suite", cfg.Suite).Str("mirror", cfg.Mirror).Msg("running debootstrap (a few minutes when nothing is cached)")
	args := []string{"--variant=minbase", "--cache-dir=" + debs,
		"--include=" + strings.Join(cfg.Packages, ","), cfg.Suite, root, cfg.Mirror}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("running debootstrap: %w: %s", err, tail(out.Bytes(), 2000))
	}
	log.Info().Float64("seconds", time.Since(start).Seconds()).Msg("debootstrap done")
	if err := finishRootfs(root); err != nil {
		return "", fmt.Errorf("preparing root filesystem: %w", err)
	}
	tmp := filepath.Join(work, "rootfs.tar")
	tarCmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "--xattrs", "-C", root, "-cf", tmp,
		"--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./run/*", ".")
	if b, err := tarCmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("packing root filesystem: %w: %s", err, tail(b, 2000))
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	return final, nil
}

// finishRootfs adds the sandbox user, a system git configuration and trims caches.
func finishRootfs(root string) error {
	uid := fmt.Sprint(SandboxUID)
	appends := map[string]string{
		"etc/passwd": "swemill:x:" + uid + ":" + uid + ":swemill:/home/swemill:/bin/bash\n",
		"etc/group":  "swemill:x:" + uid + ":\n",
		"etc/shadow": "swemill:!:19000:0:99999:7:::\n",
		"etc/gitconfig": "[safe]\n\tdirectory = *\n[user]\n\tname = swemill\n\temail = swemill@localhost\n" +
			"[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
	}
	for name, line := range appends {
		f, err := os.OpenFile(filepath.Join(root, name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_, err = f.WriteString(line)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	// The sandbox user owns its home, the work directory and a virtual environment that
	// sees Debian's packages (pytest among them) and takes what recipes install.
	venv := exec.Command("chroot", root, "/usr/bin/python3", "-m", "venv", "--system-site-packages", VenvDir)
	if b, err := venv.CombinedOutput(); err != nil {
		return fmt.Errorf("creating virtual environment: %w: %s", err, tail(b, 1000))
	}
	for _, d := range []string{"home/swemill", "home/swemill/.cache", strings.TrimPrefix(VenvDir, "/"), "testbed"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
		if err := filepath.WalkDir(filepath.Join(root, d), func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, SandboxUID, SandboxUID)
		}); err != nil {
			return err
		}
	}
	for _, glob := range []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_Packages", "var/lib/apt/lists/*_InRelease", "etc/hostname"} {
		matches, _ := filepath.Glob(filepath.Join(root, glob))
		for _, m := range matches {
			_ = os.Remove(m)
		}
	}
	return nil
}

func ensureGoBase(ctx context.Context, api dockerAPI, cfg BaseConfig, py BaseImage, name string, log zerolog.Logger) (BaseImage, error) {
	start := time.Now()
	b := BaseImage{Language: "go", Name: name}
	if ins, err := api.ImageInspect(ctx, name); err == nil {
		b.ID = ins.ID
		return b, nil
	} else if !errdefs.IsNotFound(err) {
		return b, fmt.Errorf("inspecting base image %s: %w", name, err)
	}
	if cfg.GoImage != "" {
		return b, fmt.Errorf("finding base image %s: configured but not present in the engine", name)
	}
	goVersion, err := hostGoVersion(cfg.GoRoot)
	if err != nil {
		return b, err
	}
	b.Key = goBaseKey(pythonBaseKey(cfg), py.Name, goVersion)
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	// The same assembly as env images: the toolchain as a layer written here, the cache
	// warm-up run in a build container and captured as another, both loaded on the Python base.
	asm, pyInfo, err := baseAssembler(ctx, api, cfg, py, log)
	if err != nil {
		return b, err
	}
	log.Info().Str("image", name).Str("go", goVersion).Msg("building Go base image")
	goLayer, err := newLayer(asm.tmpDir(), 0, 0, func(c *contextWriter) error {
		return c.tree(cfg.GoRoot, "usr/local/go", skipGoRoot)
	})
	if err != nil {
		return b, fmt.Errorf("building base image %s: %w", name, err)
	}
	defer os.Remove(goLayer.path)
	libLayer, err := scriptLayer(asm, map[string]string{"warm-go.sh": goWarmScript})
	if err != nil {
		return b, fmt.Errorf("building base image %s: %w", name, err)
	}
	defer os.Remove(libLayer.path)
	goEnv := []string{
		"PATH=/usr/local/go/bin:/home/swemill/go/bin:" + VenvDir + "/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"GOTOOLCHAIN=local", "GOPATH=/home/swemill/go", "GOCACHE=/home/swemill/.cache/go-build", "GOFLAGS=-buildvcs=false",
	}
	var logBuf bytes.Buffer
	warm, err := asm.capture(ctx, py.Name, []layerFile{goLayer, libLayer}, append(goEnv, "SWEMILL_WORKDIR=/testbed"), &logBuf, log,
		captureLimit{what: "Go build cache layer of " + name, layer: asm.cfg.MaxEnvBytes}, libDir+"/warm-go.sh")
	if err != nil {
		return b, fmt.Errorf("building base image %s: %w: %s", name, err, tail(logBuf.Bytes(), 2000))
	}
	defer os.Remove(warm.path)
	id, err := asm.loadImage(ctx, pyInfo, []layerFile{goLayer, warm}, name, []string{"Go toolchain " + goVersion, "Go build cache"},
		func(c *dockerspec.DockerOCIImageConfig) {
			c.Env = mergeEnv(c.Env, goEnv)
			for k, v := range map[string]string{LabelLayer: LayerBase, LabelLanguage: "go", LabelKey: b.Key,
				LabelParent: py.Name, LabelVersion: cfg.Version} {
				c.Labels[k] = v
			}
		})
	if err != nil {
		return b, err
	}
	b.ID, b.Built, b.Seconds = id, true, time.Since(start).Seconds()
	log.Info().Str("image", name).Float64("seconds", b.Seconds).Msg("base image built")
	return b, nil
}

// goWarmScript prepares the Go base: the sandbox user's Go directories, and a build cache
// holding the standard packages tests usually need, so that a test run in a sandbox does not
// compile them again.
const goWarmScript = `set -eu
mkdir -p /home/swemill/go /home/swemill/.cache/go-build
go version
cd /tmp && mkdir warm && cd warm
cat > go.mod <<'MOD'
module warm

go 1.22
MOD
cat > warm_test.go <<'SRC'
package warm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var _ = []any{bytes.NewBuffer, json.Marshal, errors.New, fmt.Sprint, io.EOF, os.Exit, filepath.Join,
	reflect.TypeOf, regexp.MustCompile, sort.Strings, strconv.Itoa, strings.Cut, sync.NewCond, time.Now}

func TestWarm(t *testing.T) {}
SRC
go test -count=1 ./... >/dev/null
go vet ./...
cd / && rm -rf /tmp/warm
chown -R 1000:1000 /home/swemill
`

// skipGoRoot leaves out what tests in a sandbox never need: the toolchain's own tests and
// documentation.
func skipGoRoot(rel string, d fs.DirEntry) bool {
	switch rel {
	case "test", "api", "doc", "misc", "pkg/obj", "codereview.cfg":
		return true
	}
	if d.IsDir() && d.Name() == "testdata" && strings.HasPrefix(rel, "src/") {
		return true
	}
	if !d.IsDir() && strings.HasSuffix(rel, "_test.go") && strings.HasPrefix(rel, "src/") {
		return true
	}
	return false
}

// tail returns the last n bytes of b as text.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
