// Package envbuild makes the runtime images of task instances, in three layers:
//
//   - base: an operating system with a language toolchain. BuildBases bootstraps them
//     without a registry: a Debian root file system made by debootstrap (cached as a tarball
//     under BaseConfig.CacheDir) imported into the engine, and a Go base that adds the host's
//     toolchain. Their names carry the hash of what made them.
//   - env: a recipe's system packages, pre-installed requirements and environment, keyed by a
//     content hash of the recipe, the base image and the dependency files; shared by every
//     instance that uses it.
//   - instance: the repository at its base commit in /testbed (a one-commit git repository
//     with no remote, owned by the sandbox user) and the recipe's install steps.
//
// Env and instance images are assembled rather than built from a Dockerfile: envbuild writes
// the file layers itself, runs recipe steps in a sandboxed build container and captures their
// changes as a layer, and loads the image with ImageLoad. Image commits on fuse-overlayfs walk
// the whole file system (10-30 s per Dockerfile instruction); this way a later instance of an
// existing env takes a few seconds. A second build of the same inputs finds the image by name
// (or by its key label) and builds nothing.
//
// Recipes come from an explicit per-repository YAML spec (ParseSpec, SpecPath) or are
// inferred from the repository (InferRecipe); with Config.Offline, inference emits nothing
// that needs a package index (the recipe records what it left out, Recipe.Skipped) and
// build containers have no network. Repositories come from one shared bare clone
// each (Sources). Stage adapts Builder to pipeline.Processor. ListImages, ImageExists and GC
// manage images and disk.
//
// envbuild is where swemill's Docker code lives: Connect returns the engine client, which the
// rest of swemill holds as an Engine and hands back to envbuild and its sub-packages. The
// sandbox sub-package runs commands in confined containers (one command, execs, or the
// persistent shells of a Workspace) and writes and reads sizes as the Docker CLI does;
// envbuildtest holds the shared Docker set-up of tests and their engine queries (Containers,
// ContainerEvents).
package envbuild
