package envbuild

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/rs/zerolog"
)

// Languages are the languages swemill builds, in the order their base images are made:
// Python first (every other base is made on it), then Go, then the bases made of Debian
// packages installed on the Python base (langBases).
var Languages = []string{"python", "go", "javascript", "rust", "java"}

// langBase says how the base image of a language past Python and Go is made: Debian
// packages installed on the Python base, in a build container, then a setup script run as
// root; the environment is the image's (merged into the Python base's).
type langBase struct {
	// packages are the Debian packages installed (apt-get install --no-install-recommends).
	packages []string
	// env are KEY=VALUE entries of the image's environment.
	env []string
	// setup is a shell script run as root after the packages, in the work directory: what
	// readies the toolchain for the sandbox user (directories it owns, offline settings, a
	// warm cache). It ends by giving the sandbox user its home.
	setup string
	// check is a shell command the base's test runs as the sandbox user; its output names
	// the toolchain's versions.
	check string
}

// langBases are the bases made of Debian packages on the Python base, by language.
var langBases = map[string]langBase{
	"javascript": javascriptBase,
	"rust":       rustBase,
	"java":       javaBase,
}

// langBaseScript installs the packages in $SWEMILL_BASE_PACKAGES (one a line) and runs the
// setup script given as $1, in one build container whose changes become the base's layer.
const langBaseScript = `set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
printf '%s\n' "$SWEMILL_BASE_PACKAGES" | xargs apt-get install -y -qq --no-install-recommends
apt-get clean
rm -rf /var/lib/apt/lists/*
bash "$1"
chown -R 1000:1000 /home/swemill
`

// langBaseKey is the hash of what makes the base of lang over the Python base named pyName.
func langBaseKey(lang string, lb langBase, pyKey, pyName string) string {
	pkgs := append([]string(nil), lb.packages...)
	sort.Strings(pkgs)
	return hashOf("swemill base "+lang, "script="+baseScriptVersion, "python="+pyKey, "from="+pyName,
		"packages="+strings.Join(pkgs, ","), "env="+strings.Join(lb.env, "\n"), "setup="+lb.setup,
		"install="+langBaseScript)
}

// wantLanguage says whether cfg asks for the base of lang.
func (c BaseConfig) wantLanguage(lang string) bool {
	if lang == "python" {
		return true
	}
	if lang == "go" && c.SkipGo {
		return false
	}
	return len(c.Languages) == 0 || slices.Contains(c.Languages, lang)
}

// validLanguages checks BaseConfig.Languages.
func validLanguages(langs []string) error {
	for _, l := range langs {
		if !slices.Contains(Languages, l) {
			return fmt.Errorf("BaseConfig.Languages: %q is not one of %s", l, strings.Join(Languages, ", "))
		}
	}
	return nil
}

// ensureLangBase makes the base image of lang (a langBases entry) on the Python base py,
// unless it exists.
func ensureLangBase(ctx context.Context, api dockerAPI, cfg BaseConfig, py BaseImage, lang, name string, log zerolog.Logger) (BaseImage, error) {
	start := time.Now()
	b := BaseImage{Language: lang, Name: name}
	if ins, err := api.ImageInspect(ctx, name); err == nil {
		b.ID = ins.ID
		return b, nil
	} else if !errdefs.IsNotFound(err) {
		return b, fmt.Errorf("inspecting base image %s: %w", name, err)
	}
	if cfg.Images[lang] != "" {
		return b, fmt.Errorf("finding base image %s: configured but not present in the engine", name)
	}
	lb := langBases[lang]
	b.Key = langBaseKey(lang, lb, pythonBaseKey(cfg), py.Name)
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	asm, pyInfo, err := baseAssembler(ctx, api, cfg, py, log)
	if err != nil {
		return b, err
	}
	log.Info().Str("image", name).Strs("packages", lb.packages).Msg("building " + lang + " base image (Debian packages on the Python base)")
	libLayer, err := scriptLayer(asm, map[string]string{"base-install.sh": langBaseScript, "base-setup.sh": lb.setup})
	if err != nil {
		return b, fmt.Errorf("building base image %s: %w", name, err)
	}
	defer os.Remove(libLayer.path)
	env := append([]string{"SWEMILL_WORKDIR=/testbed", "SWEMILL_BASE_PACKAGES=" + strings.Join(lb.packages, "\n")}, lb.env...)
	var logBuf bytes.Buffer
	layer, err := asm.capture(ctx, py.Name, []layerFile{libLayer}, env, &logBuf, log,
		captureLimit{what: "toolchain layer of " + name, layer: asm.cfg.MaxEnvBytes},
		libDir+"/base-install.sh", libDir+"/base-setup.sh")
	if err != nil {
		return b, fmt.Errorf("building base image %s: %w: %s", name, err, tail(logBuf.Bytes(), 2000))
	}
	defer os.Remove(layer.path)
	id, err := asm.loadImage(ctx, pyInfo, []layerFile{layer}, name, []string{lang + " toolchain (Debian packages)"},
		func(c *dockerspec.DockerOCIImageConfig) {
			c.Env = mergeEnv(c.Env, lb.env)
			for k, v := range map[string]string{LabelLayer: LayerBase, LabelLanguage: lang, LabelKey: b.Key,
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

// BaseCheck returns the shell command that prints the versions of lang's toolchain in its
// base image (as the sandbox user), or "" for a language without one.
func BaseCheck(lang string) string {
	switch lang {
	case "python":
		return "python --version && python -m pytest --version"
	case "go":
		return "go version"
	}
	return langBases[lang].check
}

// baseAssembler returns what base images made on the Python base py are assembled with (the
// same assembly as env images', its temporary directory made) and py's configuration.
func baseAssembler(ctx context.Context, api dockerAPI, cfg BaseConfig, py BaseImage, log zerolog.Logger) (*Builder, image.InspectResponse, error) {
	cacheDir := cfg.CacheDir
	if cacheDir == "" {
		cacheDir = os.TempDir()
	}
	asm := &Builder{api: api, cfg: Config{CacheDir: cacheDir, RunID: "swemill-base", BuildTimeout: cfg.Timeout}.withDefaults(), log: log}
	if err := os.MkdirAll(asm.tmpDir(), 0o755); err != nil {
		return nil, image.InspectResponse{}, err
	}
	pyInfo, err := api.ImageInspect(ctx, py.Name)
	if err != nil {
		return nil, image.InspectResponse{}, fmt.Errorf("inspecting base image %s: %w", py.Name, err)
	}
	return asm, pyInfo, nil
}

// scriptLayer writes a layer of swemill's library directory holding the capture script and
// scripts (file name -> content).
func scriptLayer(asm *Builder, scripts map[string]string) (layerFile, error) {
	return newLayer(asm.tmpDir(), 0, 0, func(c *contextWriter) error {
		lib := strings.TrimPrefix(libDir, "/")
		if err := c.dir(lib, 0o755); err != nil {
			return err
		}
		if err := c.file(lib+"/capture.sh", 0o644, []byte(captureScript)); err != nil {
			return err
		}
		for _, n := range slices.Sorted(maps.Keys(scripts)) {
			if err := c.file(lib+"/"+n, 0o644, []byte(scripts[n])); err != nil {
				return err
			}
		}
		return nil
	})
}
