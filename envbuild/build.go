package envbuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/rs/zerolog"

	"swemill/pipeline"
)

// layerScriptVersion changes whenever the generated Dockerfiles or scripts change; it is part
// of every env and instance hash.
const layerScriptVersion = "2"

// Config configures a Builder.
type Config struct {
	// CacheDir holds the bare clones (<CacheDir>/repos), image last-use stamps
	// (<CacheDir>/usage) and build locks (<CacheDir>/locks). Required.
	CacheDir string
	// PythonBase and GoBase are the base image names (BaseNames or BuildBases give them).
	// PythonBase is required; GoBase may be empty when no Go repository is built.
	PythonBase, GoBase string
	// Bases name the base images of the other languages (javascript, rust, java), as
	// BaseNames gives them. A recipe for a language without a base here is dropped
	// (unsupported_language).
	Bases map[string]string
	// Sources says where repositories come from; Sources.Dir defaults to <CacheDir>/repos.
	Sources SourceConfig
	// SpecDir holds explicit per-repository recipes, <SpecDir>/<owner>/<name>.yaml; they win
	// over inference. Empty means inference only.
	SpecDir string
	// Offline says no package index is reachable during builds: inferred recipes install
	// nothing that needs one (see InferOptions), and build containers run with no network
	// at all (BuildNetwork "none", whatever it says).
	Offline bool
	// WorkDir is where the repository lives in instance images. Default "/testbed".
	WorkDir string
	// Version is swemill's version, written into labels. Default "dev".
	Version string
	// BuildTimeout bounds the build of one env or instance layer. Default 30 minutes.
	BuildTimeout time.Duration
	// BuildMemory is the memory limit (memory + swap) of build containers, in bytes.
	// Default 4 GiB.
	BuildMemory int64
	// BuildCPUs is the CPU limit of build containers. Default 2.
	BuildCPUs float64
	// BuildNetwork is the network of build containers: "" (the engine's default, so installs
	// can reach package indexes) or "none". Offline makes it "none".
	BuildNetwork string
	// CABundle, when set, is a PEM file of certificate authorities on this host that build
	// containers with a network trust (copied in, never into an image): what a TLS-inspecting
	// proxy between the engine and the package indexes needs. Unused offline.
	CABundle string
	// MaxCheckoutBytes drops repositories whose checkout at the base commit is larger.
	// Default 1 GiB.
	MaxCheckoutBytes int64
	// MaxInstanceBytes drops instances whose instance layer adds more. Default 4 GiB.
	MaxInstanceBytes int64
	// MaxEnvBytes drops instances whose env image's dependency layer (what the system
	// packages and requirements install) is larger. Default 16 GiB.
	MaxEnvBytes int64
	// DiskBudget, when positive, is kept after every build by collecting least recently
	// used instance images (see GC).
	DiskBudget int64
	// LogTailBytes is how much of a failed build's log a drop detail carries. Default 4000.
	LogTailBytes int
	// RunID labels the build containers (sandbox.LabelRun) so that the sweep at the start of
	// the next run (sandbox.Sandbox.Sweep with the same RunID) removes what a killed process
	// left. Default "swemill".
	RunID string
	// Registry, when set (HOST[:PORT]/PREFIX), is where the builder pushes every env and
	// instance image it builds or finds, as PREFIX/<name without "swemill/">:<tag>; the
	// instance's record carries the digests (pipeline.Environment.ImageRef). Credentials come
	// from the environment (EnvRegistryUsername, EnvRegistryPassword).
	Registry string
	// Worker labels the build containers (sandbox.LabelWorker) with the worker process that
	// runs them, so that the run's other workers remove them once it is gone
	// (sandbox.Sandbox.SweepGone). Empty: no worker label.
	Worker string
}

func (c Config) withDefaults() Config {
	if c.Sources.Dir == "" && c.CacheDir != "" {
		c.Sources.Dir = filepath.Join(c.CacheDir, "repos")
	}
	if c.WorkDir == "" {
		c.WorkDir = "/testbed"
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.BuildTimeout == 0 {
		c.BuildTimeout = 30 * time.Minute
	}
	if c.BuildMemory == 0 {
		c.BuildMemory = 4 << 30
	}
	if c.BuildCPUs == 0 {
		c.BuildCPUs = 2
	}
	if c.MaxCheckoutBytes == 0 {
		c.MaxCheckoutBytes = 1 << 30
	}
	if c.MaxInstanceBytes == 0 {
		c.MaxInstanceBytes = 4 << 30
	}
	if c.MaxEnvBytes == 0 {
		c.MaxEnvBytes = 16 << 30
	}
	if c.LogTailBytes == 0 {
		c.LogTailBytes = 4000
	}
	if c.RunID == "" {
		c.RunID = "swemill"
	}
	if c.Offline {
		c.BuildNetwork = "none"
	}
	return c
}

var workDirRe = regexp.MustCompile(`^(/[a-z0-9_.-]+)+$`)

// Validate reports the first field that is not usable.
func (c Config) Validate() error {
	if c.BuildNetwork != "" && c.BuildNetwork != "none" {
		return fmt.Errorf("Config.BuildNetwork: %q: want \"\" (the engine's default network) or none", c.BuildNetwork)
	}
	if c.CABundle != "" {
		if st, err := os.Stat(c.CABundle); err != nil || !st.Mode().IsRegular() {
			return fmt.Errorf("Config.CABundle: %s is not a readable file", c.CABundle)
		}
	}
	c = c.withDefaults()
	switch {
	case c.CacheDir == "":
		return errors.New("Config.CacheDir: required")
	case c.PythonBase == "":
		return errors.New("Config.PythonBase: required (see BaseNames)")
	case !workDirRe.MatchString(c.WorkDir):
		return fmt.Errorf("Config.WorkDir: %q is not a plain absolute path", c.WorkDir)
	case c.BuildTimeout < 0:
		return errors.New("Config.BuildTimeout: negative")
	case c.BuildMemory < 64<<20:
		return errors.New("Config.BuildMemory: below 64 MiB")
	case c.BuildCPUs < 0:
		return errors.New("Config.BuildCPUs: negative")
	case c.MaxCheckoutBytes < 0, c.MaxInstanceBytes < 0, c.MaxEnvBytes < 0, c.DiskBudget < 0:
		return errors.New("Config.MaxCheckoutBytes, MaxInstanceBytes, MaxEnvBytes, DiskBudget: negative")
	}
	if c.Registry != "" {
		if err := validRegistry(c.Registry); err != nil {
			return fmt.Errorf("Config.Registry: %w", err)
		}
	}
	if err := c.Sources.Validate(); err != nil {
		return err
	}
	return nil
}

// Builder builds env and instance images. It is safe for concurrent use; builds of the
// same image wait for each other (a file lock per image key), across processes too.
type Builder struct {
	api     dockerAPI
	cfg     Config
	sources *Sources
	log     zerolog.Logger
	// pushedEnvs maps env image ids pushed to the registry to their references by digest.
	pushedEnvs sync.Map
}

// NewBuilder returns a Builder that talks to the engine through api.
func NewBuilder(api dockerAPI, cfg Config, log zerolog.Logger) (*Builder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	src, err := NewSources(cfg.Sources, log)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"usage", "locks", "tmp"} {
		if err := os.MkdirAll(filepath.Join(cfg.CacheDir, d), 0o755); err != nil {
			return nil, fmt.Errorf("creating cache directory: %w", err)
		}
	}
	return &Builder{api: api, cfg: cfg, sources: src, log: log}, nil
}

// Sources returns the repository sources the builder fetches from.
func (b *Builder) Sources() *Sources { return b.sources }

// Result is what Build produced.
type Result struct {
	Environment pipeline.Environment
	// EnvCacheHit is true when the env image already existed.
	EnvCacheHit bool
	// CheckoutBytes is the size of the files at the base commit.
	CheckoutBytes int64
	// Log is the build output (env and instance layers; empty on a cache hit).
	Log []byte
}

// Build returns the instance image of inst, building what is missing. Bad input comes back
// as a *pipeline.DropError (repository_not_found, base_commit_not_found, repo_too_large,
// invalid_recipe, no_recipe, env_build_failed, install_failed, build_timeout,
// image_too_large); any other error is an infrastructure failure.
//
// log receives progress; pass the item's logger (it should carry the instance id).
func (b *Builder) Build(ctx context.Context, inst pipeline.Instance, log zerolog.Logger) (Result, error) {
	return b.build(ctx, inst, nil, log)
}

// Restore makes sure the instance image that build recorded for inst (env.ImageName) is on
// the engine: images collected by the disk budget or `swemill images gc`, or never built on
// this machine when several share a database, are pulled from the registry by the digest the
// build recorded (env.ImageRef), or, when there is none or the registry does not have it,
// rebuilt from the recipe stored in env, not from a fresh inference or spec. It reports
// whether it rebuilt. A rebuild that names another
// image (swemill or its base images changed since) is an error that asks for the build stage
// to be run again for the instance; a rebuild that fails as a build would is that drop.
func (b *Builder) Restore(ctx context.Context, inst pipeline.Instance, env pipeline.Environment, log zerolog.Logger) (bool, error) {
	if env.ImageName == "" {
		return false, fmt.Errorf("restoring the image of %s: the build recorded no image", inst.InstanceID)
	}
	info, err := b.api.ImageInspect(ctx, env.ImageName)
	if err == nil {
		b.touch(info.ID)
		return false, nil
	}
	if !errdefs.IsNotFound(err) {
		return false, fmt.Errorf("inspecting image %s: %w", env.ImageName, err)
	}
	if env.ImageRef != "" {
		pulled, err := b.pull(ctx, env, log)
		if err != nil || pulled {
			return false, err
		}
		log.Warn().Str("image", env.ImageName).Str("registry_ref", env.ImageRef).
			Msg("instance image is gone and the registry does not have it; rebuilding it from the stored recipe")
	} else {
		log.Warn().Str("image", env.ImageName).Msg("instance image is gone; rebuilding it from the stored recipe")
	}
	recipe := env.Recipe
	res, err := b.build(ctx, inst, &recipe, log)
	if err != nil {
		return false, err
	}
	if res.Environment.ImageName != env.ImageName {
		return true, fmt.Errorf("instance image %s of %s is gone and its stored recipe now builds %s "+
			"(swemill or its base images changed): run `swemill rerun build --instance %s`",
			env.ImageName, inst.InstanceID, res.Environment.ImageName, inst.InstanceID)
	}
	return true, nil
}

// build is Build with the recipe given (fixed) or found as Build says (nil): it fetches the
// repository, checks out the trees, makes (or finds) the env image of the recipe, and then
// makes (or finds) the instance image on it.
func (b *Builder) build(ctx context.Context, inst pipeline.Instance, fixed *pipeline.Recipe, log zerolog.Logger) (Result, error) {
	var res Result
	clock := newPhaseClock()
	if err := validateInstance(inst); err != nil {
		return res, err
	}
	size, err := b.fetch(ctx, inst)
	if err != nil {
		return res, err
	}
	res.CheckoutBytes = size
	clock.mark("fetched")
	if size > b.cfg.MaxCheckoutBytes {
		return res, pipeline.Drop("repo_too_large", "checkout of %s@%s is %d bytes, over the limit of %d",
			inst.Repo, inst.BaseCommit, size, b.cfg.MaxCheckoutBytes)
	}

	tmp, err := os.MkdirTemp(filepath.Join(b.cfg.CacheDir, "tmp"), "checkout-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	tree, err := b.checkOut(ctx, inst, fixed, tmp)
	if err != nil {
		return res, err
	}
	clock.mark("checked_out")

	var buildLog bytes.Buffer
	env, err := b.ensureEnv(ctx, tree.recipe, tree.envDir, &buildLog, log)
	res.Log = buildLog.Bytes()
	if err != nil {
		return res, err
	}
	res.EnvCacheHit = !env.built
	clock.mark("env_ready")

	out := pipeline.Environment{
		EnvImage: env.name, BaseImage: env.base, Recipe: tree.recipe, WorkDir: b.cfg.WorkDir,
	}
	instKey := hashOf("swemill instance", "script="+layerScriptVersion, "env="+env.key,
		"repo="+inst.Repo, "commit="+inst.BaseCommit, "recipe="+recipeJSON(tree.recipe), "workdir="+b.cfg.WorkDir)
	out.ImageName = "swemill/inst." + slug(inst.InstanceID) + ":" + instKey[:16]
	unlock, err := lockFile(ctx, filepath.Join(b.cfg.CacheDir, "locks", instKey+".lock"))
	if err != nil {
		return res, err
	}
	defer unlock()
	if id, ok, err := b.findImage(ctx, out.ImageName, instKey); err != nil {
		return res, err
	} else if ok {
		if out, err = b.reuseInstance(ctx, out, id, env, log); err != nil {
			return res, err
		}
		if err := b.publish(ctx, &out, env, log); err != nil {
			return res, err
		}
		res.Environment = out
		return res, nil
	}
	if out, err = b.makeInstance(ctx, inst, tree, env, out, instKey, &buildLog, &res, clock, log); err != nil {
		return res, err
	}
	if err := b.publish(ctx, &out, env, log); err != nil {
		return res, err
	}
	if b.cfg.DiskBudget > 0 {
		if _, err := GC(ctx, b.api, GCOptions{KeepUnder: b.cfg.DiskBudget, UsageDir: b.usageDir(), Protect: []string{out.ImageID}}, log); err != nil {
			log.Warn().Err(err).Msg("keeping the disk budget")
		}
	}
	res.Environment = out
	return res, nil
}

// phaseClock times the phases of one build, for its log line.
type phaseClock struct {
	start  time.Time
	phases *zerolog.Event
}

func newPhaseClock() *phaseClock { return &phaseClock{start: time.Now(), phases: zerolog.Dict()} }

// mark records that a phase ended now (seconds since the build started).
func (c *phaseClock) mark(name string) { c.phases.Float64(name, time.Since(c.start).Seconds()) }

// fetch brings the commits an instance needs into the shared clone and returns the size of
// its checkout.
func (b *Builder) fetch(ctx context.Context, inst pipeline.Instance) (int64, error) {
	commits := []string{inst.BaseCommit}
	if setup := inst.EnvironmentSetupCommit; setup != "" && setup != inst.BaseCommit {
		commits = append(commits, setup)
	}
	if err := b.sources.Fetch(ctx, inst.Repo, commits...); err != nil {
		switch {
		case errors.Is(err, ErrRepoNotFound):
			return 0, pipeline.Drop("repository_not_found", "%s", err)
		case errors.Is(err, ErrCommitNotFound):
			return 0, pipeline.Drop("base_commit_not_found", "%s", err)
		}
		return 0, err
	}
	return b.sources.TreeSize(ctx, inst.Repo, inst.BaseCommit)
}

// trees are an instance's checkouts in a build's temporary directory, and its recipe.
type trees struct {
	// checkout is the base commit's tree; envDir the tree the env image is made from (the
	// environment setup commit's, else checkout).
	checkout, envDir string
	recipe           pipeline.Recipe
}

// checkOut checks an instance's trees out under tmp and finds its recipe (fixed, when given).
func (b *Builder) checkOut(ctx context.Context, inst pipeline.Instance, fixed *pipeline.Recipe, tmp string) (trees, error) {
	t := trees{checkout: filepath.Join(tmp, "testbed")}
	if err := b.sources.Checkout(ctx, inst.Repo, inst.BaseCommit, t.checkout); err != nil {
		return t, err
	}
	if fixed != nil {
		t.recipe = *fixed
	} else {
		var err error
		if t.recipe, err = b.recipe(inst.Repo, t.checkout); err != nil {
			return t, err
		}
	}
	t.envDir = t.checkout
	if setup := inst.EnvironmentSetupCommit; setup != "" && setup != inst.BaseCommit {
		t.envDir = filepath.Join(tmp, "setup")
		if err := b.sources.Checkout(ctx, inst.Repo, setup, t.envDir); err != nil {
			return t, err
		}
	}
	return t, nil
}

// reuseInstance takes an instance image found in the engine (id), if its layer is within the
// limit (which holds for an image an earlier run built under another limit too).
func (b *Builder) reuseInstance(ctx context.Context, out pipeline.Environment, id string, env envImage, log zerolog.Logger) (pipeline.Environment, error) {
	var err error
	out.ImageID, out.CacheHit = id, true
	if out.SizeBytes, err = b.layerSize(ctx, id, env.id); err != nil {
		return out, err
	}
	if out.SizeBytes > b.cfg.MaxInstanceBytes {
		return out, pipeline.Drop("image_too_large", "instance layer of %s adds %d bytes, over the limit of %d",
			out.ImageName, out.SizeBytes, b.cfg.MaxInstanceBytes)
	}
	b.touch(id, env.id)
	log.Debug().Str("image", out.ImageName).Msg("instance image cache hit")
	return out, nil
}

// makeInstance makes the instance image on the env image: the checkout as one layer, the
// recipe's install commands' changes as another, loaded into the engine with the instance's
// labels. res.Log follows the build log.
func (b *Builder) makeInstance(ctx context.Context, inst pipeline.Instance, tree trees, env envImage, out pipeline.Environment,
	instKey string, buildLog *bytes.Buffer, res *Result, clock *phaseClock, log zerolog.Logger) (pipeline.Environment, error) {
	name, recipe := out.ImageName, tree.recipe
	envInfo, err := b.api.ImageInspect(ctx, env.id)
	if err != nil {
		return out, fmt.Errorf("inspecting env image %s: %w", env.name, err)
	}
	buildLog.WriteString("# instance image " + name + "\n")
	checkoutLayer, err := newLayer(b.tmpDir(), SandboxUID, SandboxUID, func(c *contextWriter) error {
		return c.tree(tree.checkout, strings.TrimPrefix(b.cfg.WorkDir, "/"), nil)
	})
	if err != nil {
		return out, err
	}
	defer os.Remove(checkoutLayer.path)
	clock.mark("checkout_layer")
	layers, comments := []layerFile{checkoutLayer}, []string{"checkout of " + inst.Repo + "@" + inst.BaseCommit}
	if len(recipe.PreInstall)+len(recipe.Install) > 0 {
		installLayer, err := b.capture(ctx, env.id, []layerFile{checkoutLayer}, []string{"SWEMILL_COMMANDS=" + commandsArg(recipe)},
			buildLog, log, captureLimit{what: "install layer of " + name, layer: b.cfg.MaxInstanceBytes, field: "Config.MaxInstanceBytes"},
			libDir+"/run-commands.sh")
		res.Log = buildLog.Bytes()
		if err != nil {
			return out, b.buildFailure(ctx, "install_failed", name, err)
		}
		defer os.Remove(installLayer.path)
		layers, comments = append(layers, installLayer), append(comments, "install")
		clock.mark("installed")
	}
	labels := map[string]string{
		LabelLayer: LayerInstance, LabelKey: instKey, LabelParent: env.name, LabelVersion: b.cfg.Version,
		LabelLanguage: recipe.Language, LabelRepo: inst.Repo, LabelInstance: inst.InstanceID,
		LabelBaseCommit: inst.BaseCommit, LabelRecipe: recipeJSON(recipe),
	}
	id, err := b.loadImage(ctx, envInfo, layers, name, comments, func(c *dockerspec.DockerOCIImageConfig) {
		for k, v := range labels {
			c.Labels[k] = v
		}
	})
	res.Log = buildLog.Bytes()
	if err != nil {
		return out, err
	}
	out.ImageID, out.BuildSeconds = id, time.Since(clock.start).Seconds()
	if out.SizeBytes, err = b.layerSize(ctx, id, env.id); err != nil {
		return out, err
	}
	if out.SizeBytes > b.cfg.MaxInstanceBytes {
		_, _ = b.api.ImageRemove(context.WithoutCancel(ctx), name, image.RemoveOptions{PruneChildren: true})
		return out, pipeline.Drop("image_too_large", "instance layer of %s adds %d bytes, over the limit of %d",
			name, out.SizeBytes, b.cfg.MaxInstanceBytes)
	}
	b.touch(id, env.id)
	clock.mark("loaded")
	log.Info().Str("image", name).Float64("seconds", out.BuildSeconds).Int64("layer_bytes", out.SizeBytes).
		Dict("phases", clock.phases).Msg("instance image built")
	return out, nil
}

func validateInstance(inst pipeline.Instance) error {
	switch {
	case strings.TrimSpace(inst.InstanceID) == "" || len(inst.InstanceID) > 200:
		return pipeline.Drop("invalid_instance", "instance id %q", truncate(inst.InstanceID, 80))
	case !repoRe.MatchString(inst.Repo) || strings.Contains(inst.Repo, ".."):
		return pipeline.Drop("repository_not_found", "%q is not an owner/name repository", truncate(inst.Repo, 80))
	case !commitRe.MatchString(inst.BaseCommit):
		return pipeline.Drop("base_commit_not_found", "%q is not a full commit hash", truncate(inst.BaseCommit, 80))
	case inst.EnvironmentSetupCommit != "" && !commitRe.MatchString(inst.EnvironmentSetupCommit):
		return pipeline.Drop("base_commit_not_found", "environment setup commit %q is not a full commit hash", truncate(inst.EnvironmentSetupCommit, 80))
	}
	return nil
}

// recipe returns the explicit spec of repo when there is one, else infers it from checkout.
func (b *Builder) recipe(repo, checkout string) (pipeline.Recipe, error) {
	if b.cfg.SpecDir != "" {
		data, err := os.ReadFile(SpecPath(b.cfg.SpecDir, repo))
		if err == nil {
			r, err := ParseSpec(data)
			if err != nil {
				return r, pipeline.Drop("invalid_recipe", "%s: %s", SpecPath(b.cfg.SpecDir, repo), err)
			}
			return r, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return pipeline.Recipe{}, fmt.Errorf("reading recipe spec of %s: %w", repo, err)
		}
	}
	r, err := InferRecipe(checkout, InferOptions{Offline: b.cfg.Offline, WorkDir: b.cfg.WorkDir})
	if errors.Is(err, ErrNoRecipe) {
		return r, pipeline.Drop("no_recipe", "%s", err)
	}
	if err != nil {
		return r, fmt.Errorf("inferring recipe of %s: %w", repo, err)
	}
	if err := ValidateRecipe(r); err != nil {
		return r, pipeline.Drop("invalid_recipe", "inferred: %s", err)
	}
	return r, nil
}

// baseOf returns the base image of lang, or "".
func (c Config) baseOf(lang string) string {
	switch lang {
	case "python":
		return c.PythonBase
	case "go":
		return c.GoBase
	}
	return c.Bases[lang]
}

type envImage struct {
	name, id, key, base string
	built               bool
}

// ensureEnv returns the env image of recipe (with dependency files read from dir), building
// it when missing.
func (b *Builder) ensureEnv(ctx context.Context, r pipeline.Recipe, dir string, buildLog *bytes.Buffer, log zerolog.Logger) (envImage, error) {
	if err := ValidateRecipe(r); err != nil {
		return envImage{}, pipeline.Drop("invalid_recipe", "%s", err)
	}
	base := b.cfg.baseOf(r.Language)
	if base == "" {
		return envImage{}, pipeline.Drop("unsupported_language", "the recipe is for %s and this run has no %s base image (build.languages, swemill base build)", r.Language, r.Language)
	}
	baseInfo, err := b.api.ImageInspect(ctx, base)
	if err != nil {
		return envImage{}, fmt.Errorf("inspecting base image %s: %w", base, err)
	}
	deps := envDeps(r, dir)
	key := hashOf("swemill env", "script="+layerScriptVersion, "base="+baseInfo.ID, "language="+r.Language,
		"version="+r.LanguageVersion, "packages="+strings.Join(r.SystemPackages, " "), "env="+envJSON(r.Env),
		"requirements="+string(deps.requirements), "gomod="+string(deps.goMod), "gosum="+string(deps.goSum))
	key = hashOf(key, "workdir="+b.cfg.WorkDir)
	e := envImage{name: "swemill/env-" + r.Language + ":" + key[:16], key: key, base: base}
	unlock, err := lockFile(ctx, filepath.Join(b.cfg.CacheDir, "locks", key+".lock"))
	if err != nil {
		return e, err
	}
	defer unlock()
	if id, ok, err := b.findImage(ctx, e.name, key); err != nil {
		return e, err
	} else if ok {
		e.id = id
		return e, nil
	}
	start := time.Now()
	buildLog.WriteString("# env image " + e.name + "\n")
	libLayer, err := newLayer(b.tmpDir(), 0, 0, func(c *contextWriter) error {
		files := libFiles(r, deps)
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		if err := c.dir(strings.TrimPrefix(libDir, "/"), 0o755); err != nil {
			return err
		}
		made := map[string]bool{}
		for _, n := range names {
			full := strings.TrimPrefix(libDir, "/") + "/" + n
			if d := filepath.Dir(full); d != strings.TrimPrefix(libDir, "/") && !made[d] {
				for _, p := range parentsOf(d, strings.TrimPrefix(libDir, "/")) {
					if !made[p] {
						made[p] = true
						if err := c.dir(p, 0o755); err != nil {
							return err
						}
					}
				}
			}
			if err := c.file(full, 0o644, files[n]); err != nil {
				return err
			}
		}
		if b.cfg.WorkDir != "/testbed" { // the bases carry /testbed
			wc := &contextWriter{tw: c.tw, uid: SandboxUID, gid: SandboxUID}
			return wc.dir(strings.TrimPrefix(b.cfg.WorkDir, "/"), 0o755)
		}
		return nil
	})
	if err != nil {
		return e, err
	}
	defer os.Remove(libLayer.path)
	layers, comments := []layerFile{libLayer}, []string{"recipe library"}
	var envVars []string
	for _, k := range sortedKeys(r.Env) {
		envVars = append(envVars, k+"="+r.Env[k])
	}
	envVars = append(envVars, "SWEMILL_WORKDIR="+b.cfg.WorkDir)
	if needsSetup(r, deps) {
		setup, err := b.capture(ctx, base, []layerFile{libLayer}, envVars, buildLog, log,
			captureLimit{what: "dependency layer of " + e.name, layer: b.cfg.MaxEnvBytes, field: "Config.MaxEnvBytes"}, libDir+"/env-setup.sh")
		if err != nil {
			return e, b.buildFailure(ctx, "env_build_failed", e.name, err)
		}
		defer os.Remove(setup.path)
		layers, comments = append(layers, setup), append(comments, "system packages and dependencies")
	}
	labels := map[string]string{
		LabelLayer: LayerEnv, LabelKey: key, LabelParent: base, LabelVersion: b.cfg.Version,
		LabelLanguage: r.Language, LabelRecipe: recipeJSON(r),
	}
	id, err := b.loadImage(ctx, baseInfo, layers, e.name, comments, func(c *dockerspec.DockerOCIImageConfig) {
		for k, v := range labels {
			c.Labels[k] = v
		}
		c.Env = mergeEnv(c.Env, envVars)
		c.WorkingDir = b.cfg.WorkDir
	})
	if err != nil {
		return e, err
	}
	e.id, e.built = id, true
	log.Info().Str("image", e.name).Float64("seconds", time.Since(start).Seconds()).Msg("env image built")
	return e, nil
}

// findImage looks an image up by name, then by key label (an identical image under another
// name, which is then tagged with name).
func (b *Builder) findImage(ctx context.Context, name, key string) (string, bool, error) {
	ins, err := b.api.ImageInspect(ctx, name)
	if err == nil {
		return ins.ID, true, nil
	}
	if !errdefs.IsNotFound(err) {
		return "", false, fmt.Errorf("inspecting image %s: %w", name, err)
	}
	list, err := b.api.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelKey+"="+key))})
	if err != nil {
		return "", false, fmt.Errorf("listing images with key %s: %w", key, err)
	}
	if len(list) == 0 {
		return "", false, nil
	}
	if err := b.api.ImageTag(ctx, list[0].ID, name); err != nil {
		return "", false, fmt.Errorf("tagging image %s as %s: %w", list[0].ID, name, err)
	}
	return list[0].ID, true, nil
}

// layerSize returns how many bytes image adds on top of parent.
func (b *Builder) layerSize(ctx context.Context, id, parent string) (int64, error) {
	ins, err := b.api.ImageInspect(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("inspecting image %s: %w", id, err)
	}
	pins, err := b.api.ImageInspect(ctx, parent)
	if err != nil {
		return 0, fmt.Errorf("inspecting image %s: %w", parent, err)
	}
	return ins.Size - pins.Size, nil
}

func (b *Builder) usageDir() string { return filepath.Join(b.cfg.CacheDir, "usage") }

func (b *Builder) tmpDir() string { return filepath.Join(b.cfg.CacheDir, "tmp") }

// parentsOf returns the directories from just under root down to d.
func parentsOf(d, root string) []string {
	var out []string
	for ; d != root && d != "." && d != "/"; d = filepath.Dir(d) {
		out = append([]string{d}, out...)
	}
	return out
}

// mergeEnv sets the KEY=VALUE entries of add in env, replacing earlier values of a key.
func mergeEnv(env, add []string) []string {
	out := append([]string(nil), env...)
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if ok, _, _ := strings.Cut(old, "="); ok == k {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// touch records that images were used now.
func (b *Builder) touch(ids ...string) {
	for _, id := range ids {
		TouchImage(b.usageDir(), id)
	}
}

// TouchImage records in dir that the image id was used now (see ListImages). Errors are
// ignored: last use is advice for GC.
func TouchImage(dir, id string) {
	if dir == "" || id == "" {
		return
	}
	p := filepath.Join(dir, strings.TrimPrefix(id, "sha256:"))
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		_ = os.WriteFile(p, nil, 0o644)
	}
}

type envDepFiles struct {
	requirements []byte // plain requirement specifiers, one a line
	goMod, goSum []byte
}

// envDeps collects what the env layer pre-installs: the plain requirement specifiers of the
// requirement files that the recipe installs with `pip install -r FILE`, and go.mod/go.sum
// when it runs `go mod download`. What cannot be pre-installed is left to the instance.
func envDeps(r pipeline.Recipe, dir string) envDepFiles {
	var d envDepFiles
	switch r.Language {
	case "python":
		var lines []string
		for _, c := range r.Install {
			f := strings.Fields(c)
			if len(f) != 6 || strings.Join(f[:5], " ") != "python -m pip install -r" {
				continue
			}
			rel := f[5]
			if !relPathRe.MatchString(rel) || strings.Contains(rel, "..") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
			if err != nil {
				continue
			}
			plain, ok := plainRequirements(data)
			if !ok {
				continue
			}
			lines = append(lines, plain...)
		}
		sort.Strings(lines)
		lines = dedupe(lines)
		if len(lines) > 0 {
			d.requirements = []byte(strings.Join(lines, "\n") + "\n")
		}
	case "go":
		for _, c := range r.Install {
			if strings.TrimSpace(c) == "go mod download" {
				d.goMod, _ = os.ReadFile(filepath.Join(dir, "go.mod"))
				d.goSum, _ = os.ReadFile(filepath.Join(dir, "go.sum"))
			}
		}
	}
	return d
}

// plainRequirements returns the requirement specifiers of a requirements file when every
// line is one (or a comment); ok is false when any line is an option, path or URL.
func plainRequirements(data []byte) ([]string, bool) {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		line = strings.ReplaceAll(strings.TrimSpace(line), " ", "")
		if line == "" {
			continue
		}
		if !pyRequireRe.MatchString(line) {
			return nil, false
		}
		out = append(out, line)
	}
	return out, true
}

func recipeJSON(r pipeline.Recipe) string {
	data, _ := json.Marshal(r) // map keys are sorted
	return string(data)
}

func envJSON(env map[string]string) string {
	data, _ := json.Marshal(env)
	return string(data)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// slug turns an instance id into an image name component: lowercase letters and digits
// separated by single '.', '_' , '__' or '-'.
func slug(id string) string {
	var sb strings.Builder
	pendingSep := ""
	for _, r := range strings.ToLower(id) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if sb.Len() > 0 && pendingSep != "" {
				sb.WriteString(pendingSep)
			}
			pendingSep = ""
			sb.WriteRune(r)
			continue
		}
		switch {
		case pendingSep == "" && (r == '.' || r == '_' || r == '-'):
			pendingSep = string(r)
		case pendingSep == "_" && r == '_':
			pendingSep = "__"
		default:
			pendingSep = "-"
		}
	}
	s := sb.String()
	if s == "" {
		s = "x"
	}
	if len(s) > 100 {
		s = s[:100]
	}
	return strings.TrimRight(s, "._-")
}
