package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"swemill/envbuild"
	"swemill/envbuild/sandbox"
	"swemill/pipeline"
	"swemill/report"
	"swemill/runstore"
)

// BuildConfig is the build section: how instance images are made.
type BuildConfig struct {
	// SpecDir holds explicit recipes, <spec_dir>/<owner>/<name>.yaml; they win over inference.
	SpecDir string `yaml:"spec_dir" json:"spec_dir,omitempty"`
	// Offline says no package index is reachable while building: inferred recipes install
	// only what needs no index (skipped steps are recorded in the recipe) and build
	// containers run with no network, whatever Network says.
	Offline bool `yaml:"offline" json:"offline,omitempty"`
	// PythonBase and GoBase name ready base images (e.g. python:3.11-slim where a registry is
	// reachable) instead of the bootstrapped ones.
	PythonBase string `yaml:"python_base" json:"python_base,omitempty"`
	GoBase     string `yaml:"go_base" json:"go_base,omitempty"`
	// Bases name ready base images of the other languages (javascript, rust, java).
	Bases map[string]string `yaml:"bases" json:"bases,omitempty"`
	// Languages are the languages this run builds besides Python (go, javascript, rust,
	// java); empty means all of them. Their base images must exist (swemill base build); a
	// repository of a language left out is dropped (unsupported_language).
	Languages []string `yaml:"languages" json:"languages,omitempty"`
	// Mirror is the Debian mirror base images are bootstrapped from.
	Mirror string `yaml:"mirror" json:"mirror,omitempty"`
	// Timeout bounds the build of one layer.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Memory and CPUs limit build containers ("4GiB", 2).
	Memory Size    `yaml:"memory" json:"memory,omitempty"`
	CPUs   float64 `yaml:"cpus" json:"cpus,omitempty"`
	// Network is the build containers' network: "" (the engine's default) or "none".
	Network string `yaml:"network" json:"network,omitempty"`
	// CABundle is a PEM file of certificate authorities that online build containers trust
	// (a TLS-inspecting proxy's). Default: the file $SSL_CERT_FILE names, when set.
	CABundle string `yaml:"ca_bundle" json:"ca_bundle,omitempty"`
	// MaxCheckout and MaxInstance drop repositories and instances that are too large.
	MaxCheckout Size `yaml:"max_checkout" json:"max_checkout,omitempty"`
	MaxInstance Size `yaml:"max_instance" json:"max_instance,omitempty"`
	// MaxEnv drops instances whose environment's dependency layer is larger. Default 16GiB.
	MaxEnv Size `yaml:"max_env" json:"max_env,omitempty"`
	// DiskBudget, when set, is kept after every build by removing least recently used
	// instance images.
	DiskBudget Size `yaml:"disk_budget" json:"disk_budget,omitempty"`
	// GitHubURL is where repositories are cloned from when they are not in mirror_dir.
	GitHubURL string `yaml:"github_url" json:"github_url,omitempty"`
	// Registry, when set (HOST[:PORT]/PREFIX), receives every env and instance image the build
	// makes; records, the manifest and the image column name them by digest there, and the
	// workers of later stages whose engine lacks an image pull it from there. Credentials:
	// SWEMILL_REGISTRY_USERNAME and SWEMILL_REGISTRY_PASSWORD.
	Registry string `yaml:"registry" json:"registry,omitempty"`
	// FetchTimeout bounds one fetch of a repository. Default 10m.
	FetchTimeout Duration `yaml:"fetch_timeout" json:"fetch_timeout,omitempty"`
}

// Size is a number of bytes written as "500MB", "4GiB" or plain bytes.
type Size int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*s = Size(v)
	return nil
}

// parseSize reads a size; "-1" (which some fields take for "no limit") is -1.
func parseSize(v string) (int64, error) {
	if strings.TrimSpace(v) == "-1" {
		return -1, nil
	}
	b, err := sandbox.ParseBytes(v)
	if err != nil || b < 0 {
		return 0, fmt.Errorf("%q is not a size (like 500MB or 4GiB)", v)
	}
	return b, nil
}

// caBundle is the build section's ca_bundle, else the file $SSL_CERT_FILE names when it is
// one, else none.
func (env wiringEnv) caBundle() string {
	if p := env.cfg.Build.CABundle; p != "" {
		return env.cfg.resolve(p)
	}
	if p := env.getenv("SSL_CERT_FILE"); p != "" {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// cacheDir is where swemill keeps what outlives a run: debootstrap output, bare clones,
// image use stamps. $SWEMILL_CACHE, else the configuration's cache_dir, else
// $XDG_CACHE_HOME/swemill or ~/.cache/swemill.
func (env wiringEnv) cacheDir() string {
	if d := env.getenv("SWEMILL_CACHE"); d != "" {
		return d
	}
	if env.cfg.CacheDir != "" {
		return env.cfg.resolve(env.cfg.CacheDir)
	}
	if d := env.getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "swemill")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "swemill-cache")
	}
	return filepath.Join(home, ".cache", "swemill")
}

// runID names the run's containers, so that the sweeps remove what a killed process of the
// run left (and nothing of another run's). A run is its record: the run directory's with
// SQLite, the database's with PostgreSQL, whose workers each have their own run directory.
func (env wiringEnv) runID() string {
	record := env.cfg.runDir
	if env.cfg.Database != "" {
		record = runstore.DatabaseKey(env.cfg.Database)
	}
	sum := sha256.Sum256([]byte(record))
	return "swemill-" + hex.EncodeToString(sum[:6])
}

func (env wiringEnv) baseConfig() envbuild.BaseConfig {
	return envbuild.BaseConfig{
		CacheDir:    env.cacheDir(),
		Mirror:      env.cfg.Build.Mirror,
		PythonImage: env.cfg.Build.PythonBase,
		GoImage:     env.cfg.Build.GoBase,
		Images:      env.cfg.Build.Bases,
		Languages:   env.cfg.Build.Languages,
		Version:     pipeline.Version,
	}
}

// docker connects to the Docker engine (DOCKER_HOST or the configuration's docker_host).
func (env wiringEnv) docker(ctx context.Context) (envbuild.Engine, error) {
	cli, err := envbuild.Connect(ctx, env.cfg.DockerHost)
	if err != nil {
		return nil, fmt.Errorf("connecting to the Docker engine: %w", err)
	}
	return cli, nil
}

// wireBuild makes the build stage over builder. The base images must exist already (swemill
// base build).
func wireBuild(ctx context.Context, env wiringEnv, cli envbuild.Engine, builder *envbuild.Builder) (pipeline.Processor, error) {
	names, err := envbuild.BaseNames(env.baseConfig())
	if err != nil {
		return nil, fmt.Errorf("naming base images: %w", err)
	}
	for lang, name := range names {
		ok, err := envbuild.ImageExists(ctx, cli, name)
		if err != nil {
			return nil, fmt.Errorf("inspecting base image %s: %w", name, err)
		}
		if !ok {
			return nil, fmt.Errorf("the %s base image %s is missing: run `swemill base build` (or `make base`) first", lang, name)
		}
	}
	return envbuild.NewStage(builder), nil
}

// newBuilder makes the image builder of the run's configuration: the build stage builds with
// it, and the later stages restore with it the instance images that are gone.
func newBuilder(env wiringEnv, cli envbuild.Engine) (*envbuild.Builder, error) {
	if err := env.cfg.checkMirrors(); err != nil {
		return nil, err
	}
	names, err := envbuild.BaseNames(env.baseConfig())
	if err != nil {
		return nil, fmt.Errorf("naming base images: %w", err)
	}
	builder, err := envbuild.NewBuilder(cli, env.builderConfig(names), env.log.With().Str("stage", "build").Logger())
	if err != nil {
		return nil, usagef("build: %v", err)
	}
	return builder, nil
}

// builderConfig turns the build section into the builder's configuration, over the base
// images names (by language).
func (env wiringEnv) builderConfig(names map[string]string) envbuild.Config {
	b := env.cfg.Build
	return envbuild.Config{
		CacheDir:   env.cacheDir(),
		PythonBase: names["python"],
		GoBase:     names["go"],
		Bases:      names,
		Sources: envbuild.SourceConfig{
			MirrorDir:    env.cfg.mirrorDir(),
			Mirrors:      env.cfg.importMirrors(),
			GitHubURL:    b.GitHubURL,
			FetchTimeout: time.Duration(b.FetchTimeout),
		},
		SpecDir:          env.cfg.resolve(b.SpecDir),
		Offline:          b.Offline,
		Version:          pipeline.Version,
		BuildTimeout:     time.Duration(b.Timeout),
		BuildMemory:      int64(b.Memory),
		BuildCPUs:        b.CPUs,
		BuildNetwork:     b.Network,
		CABundle:         env.caBundle(),
		MaxCheckoutBytes: int64(b.MaxCheckout),
		MaxInstanceBytes: int64(b.MaxInstance),
		MaxEnvBytes:      int64(b.MaxEnv),
		DiskBudget:       int64(b.DiskBudget),
		Registry:         b.Registry,
		RunID:            env.runID(),
		Worker:           env.worker,
	}
}

// engine loads the configuration and connects to the Docker engine; the caller closes it.
func (a *app) engine(ctx context.Context) (wiringEnv, envbuild.Engine, error) {
	cfg, log, err := a.setup()
	if err != nil {
		return wiringEnv{}, nil, err
	}
	env := wiringEnv{cfg: cfg, getenv: a.getenv, log: log}
	cli, err := env.docker(ctx)
	return env, cli, err
}

func cmdBase(ctx context.Context, a *app, o baseOptions) error {
	env, cli, err := a.engine(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	registry := cmp.Or(o.registry, env.cfg.Build.Registry)
	if o.push && registry == "" {
		return usagef("base build --push needs a registry: --registry HOST[:PORT]/PREFIX or build.registry")
	}
	bcfg := env.baseConfig()
	if len(o.langs) > 0 {
		bcfg.Languages = o.langs
		if err := bcfg.Validate(); err != nil {
			return usagef("base build --lang: %v", err)
		}
	}
	bases, err := envbuild.BuildBases(ctx, cli, bcfg, env.log)
	if err != nil {
		return fmt.Errorf("building base images: %w", err)
	}
	for _, b := range bases {
		how := "already there"
		if b.Built {
			how = fmt.Sprintf("built in %.0fs", b.Seconds)
		}
		fmt.Fprintf(a.stdout, "%-10s %s (%s)\n", b.Language, b.Name, how)
		if o.push {
			ref, err := envbuild.PushImage(ctx, cli, b.Name, envbuild.RemoteName(registry, b.Name))
			if err != nil {
				return fmt.Errorf("pushing base image %s: %w", b.Name, err)
			}
			fmt.Fprintf(a.stdout, "%-10s pushed as %s\n", "", ref)
		}
	}
	return nil
}

func cmdImages(ctx context.Context, a *app, sub string, o imagesOptions) error {
	env, cli, err := a.engine(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	log := env.log
	usage := filepath.Join(env.cacheDir(), "usage")
	if sub == "gc" {
		if o.keepUnder == "" {
			return usagef("images gc needs --keep-under SIZE")
		}
		limit, err := parseSize(o.keepUnder)
		if err != nil {
			return usagef("--keep-under: %v", err)
		}
		res, err := envbuild.GC(ctx, cli, envbuild.GCOptions{KeepUnder: limit, UsageDir: usage, DryRun: o.dryRun}, log)
		if err != nil {
			return err
		}
		verb := "removed"
		if o.dryRun {
			verb = "would remove"
		}
		for _, im := range res.Removed {
			fmt.Fprintf(a.stdout, "%s %s (%s)\n", verb, im.Name, sandbox.FormatSize(im.UniqueSize))
		}
		fmt.Fprintf(a.stdout, "swemill images: %s before, %s after\n", sandbox.FormatSize(res.Before), sandbox.FormatSize(res.After))
		return nil
	}
	list, err := envbuild.ListImages(ctx, cli, usage)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(a.stdout, list)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\timage\tadds\tlast used\tin use")
	for _, im := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", im.Layer, im.Name, sandbox.FormatSize(im.UniqueSize), im.LastUsed.Local().Format(time.DateTime), im.InUse)
	}
	tw.Flush()
	fmt.Fprintf(a.stdout, "total %s\n", sandbox.FormatSize(envbuild.DiskUsage(list)))
	return nil
}

// cmdImagesMove is `swemill images push` and `swemill images pull`: each selected built
// instance's image is pushed (when this engine holds it) and its references recorded, or
// pulled (when this engine lacks it) by the digest its build recorded. One instance's
// failure is reported and the others go on; the command fails at the end if any did.
func cmdImagesMove(ctx context.Context, a *app, verb string, o imagesOptions) error {
	env, cli, err := a.engine(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	registry := cmp.Or(o.registry, env.cfg.Build.Registry)
	if verb == "push" && registry == "" {
		return usagef("images push needs a registry: --registry HOST[:PORT]/PREFIX or build.registry")
	}
	store, err := a.openStore(ctx, env.cfg, env.log, verb == "pull")
	if err != nil {
		return err
	}
	defer store.Close()
	built, err := store.Built(ctx, o.sel)
	if errors.Is(err, runstore.ErrImageSelector) {
		return usagef("images %s: %v", verb, err)
	}
	if err != nil {
		return err
	}
	usage := filepath.Join(env.cacheDir(), "usage")
	counts := map[string]int{}
	var failed int
	for _, b := range built {
		log := env.log.With().Str("instance", b.InstanceID).Logger()
		what, err := moveImage(ctx, cli, store, verb, registry, usage, b, log)
		if err != nil {
			failed++
			fmt.Fprintf(a.stderr, "%s: %v\n", b.InstanceID, err)
			continue
		}
		counts[what]++
		fmt.Fprintf(a.stdout, "%s\t%s\t%s\n", b.InstanceID, what, cmp.Or(b.Environment.ImageRef, b.Environment.ImageName))
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", failed))
	}
	fmt.Fprintf(a.stdout, "swemill images %s: %d instances: %s\n", verb, len(built), strings.Join(parts, ", "))
	if failed > 0 {
		return fmt.Errorf("images %s: %d of %d instances failed", verb, failed, len(built))
	}
	return nil
}

// moveImage pushes or pulls one instance's image and says what it did.
func moveImage(ctx context.Context, cli envbuild.Engine, store *runstore.Store, verb, registry, usage string, b runstore.BuiltImage, log zerolog.Logger) (string, error) {
	e := &b.Environment
	here, err := envbuild.ImageExists(ctx, cli, e.ImageName)
	if err != nil {
		return "", err
	}
	if verb == "pull" {
		switch {
		case here:
			return "already here", nil
		case e.ImageRef == "":
			return "never pushed", nil
		}
		ok, err := envbuild.PullEnvironment(ctx, cli, *e, usage, log)
		if err != nil {
			return "", err
		}
		if !ok {
			return "not in the registry", nil
		}
		return "pulled", nil
	}
	if !here {
		return "not on this engine", nil
	}
	if err := envbuild.PushEnvironment(ctx, cli, registry, e, log); err != nil {
		return "", err
	}
	ok, err := store.RecordImageRefs(ctx, b.InstanceID, e.ImageID, e.ImageRef, e.EnvImageRef)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("pushed %s, but the instance's build was redone meanwhile: its record names another image", e.ImageRef)
	}
	return "pushed", nil
}

// imageUsage sums the disk used by swemill's images per layer, for the report; nil when the
// engine cannot be asked.
func imageUsage(ctx context.Context, env wiringEnv) []report.LayerUsage {
	cli, err := env.docker(ctx)
	if err != nil {
		return nil
	}
	defer cli.Close()
	list, err := envbuild.ListImages(ctx, cli, "")
	if err != nil {
		return nil
	}
	var out []report.LayerUsage
	for _, u := range envbuild.UsageByLayer(list) {
		out = append(out, report.LayerUsage(u))
	}
	return out
}
