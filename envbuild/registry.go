package envbuild

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/rs/zerolog"

	"swemill/pipeline"
)

// Registry credentials come from the environment only, and never appear in logs or errors.
const (
	EnvRegistryUsername = "SWEMILL_REGISTRY_USERNAME"
	EnvRegistryPassword = "SWEMILL_REGISTRY_PASSWORD"
)

// registryAuth is the engine's X-Registry-Auth value for the registry of ref: the
// environment's credentials, or none (an anonymous registry). A reference without a registry
// host is refused.
func registryAuth(ref string) (string, error) {
	host, err := RegistryRef(ref)
	if err != nil {
		return "", err
	}
	cfg := registry.AuthConfig{ServerAddress: host, Username: os.Getenv(EnvRegistryUsername), Password: os.Getenv(EnvRegistryPassword)}
	data, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(data), nil
}

// RegistryRef splits a registry reference NAME[:TAG] or NAME@DIGEST into its host (the
// first path element, which holds a dot or a colon or is localhost) and the rest; a
// reference without a host is refused: swemill only pushes to a registry it was given.
func RegistryRef(ref string) (host string, err error) {
	first, _, ok := strings.Cut(ref, "/")
	if !ok || !(strings.ContainsAny(first, ".:") || first == "localhost") {
		return "", fmt.Errorf("registry reference %q names no registry host (HOST[:PORT]/PATH)", ref)
	}
	return first, nil
}

// PushImage gives the local image name the registry reference ref (HOST[:PORT]/PATH:TAG),
// pushes it and returns the reference by digest, HOST[:PORT]/PATH@sha256:..., which names
// exactly the pushed image. Layers the registry already holds are not sent again.
func PushImage(ctx context.Context, api dockerAPI, name, ref string) (string, error) {
	auth, err := registryAuth(ref)
	if err != nil {
		return "", err
	}
	if err := api.ImageTag(ctx, name, ref); err != nil {
		return "", fmt.Errorf("tagging %s as %s: %w", name, ref, err)
	}
	rc, err := api.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	defer rc.Close()
	digest, err := pushDigest(rc)
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	repo := ref
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo = ref[:i]
	}
	return repo + "@" + digest, nil
}

// pushDigest reads a push's progress stream and returns the digest the registry gave the
// manifest.
func pushDigest(r io.Reader) (string, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	digest := ""
	for {
		var m streamMessage
		if err := dec.Decode(&m); err != nil {
			if !errors.Is(err, io.EOF) {
				return "", fmt.Errorf("reading the engine's stream: %w", err)
			}
			break
		}
		if m.Error != "" {
			return "", fmt.Errorf("%w: %s", errBuildStep, m.Error)
		}
		var aux struct{ Digest string }
		if len(m.Aux) > 0 && json.Unmarshal(m.Aux, &aux) == nil && strings.HasPrefix(aux.Digest, "sha256:") {
			digest = aux.Digest
		}
	}
	if digest == "" {
		return "", errors.New("the engine reported no digest for the push")
	}
	return digest, nil
}

// ErrNotInRegistry is what PullImage returns when the registry does not hold the reference.
var ErrNotInRegistry = errors.New("the registry does not have the image")

// validRegistry checks a registry prefix HOST[:PORT]/PREFIX (the prefix may be empty).
func validRegistry(r string) error {
	if strings.HasSuffix(r, "/") || strings.ContainsAny(r, "@ \t\n") {
		return fmt.Errorf("%q: want HOST[:PORT]/PREFIX (lower-case path, no tag or digest)", r)
	}
	host, err := RegistryRef(r + "/x")
	if err != nil {
		return err
	}
	path := strings.TrimPrefix(r+"/x", host+"/")
	if !refPathRe.MatchString(path) {
		return fmt.Errorf("%q: the path after the host is not a lower-case repository path", r)
	}
	return nil
}

// refPathRe is the path of a repository in a registry: lower-case components separated by
// slashes, each of alphanumerics joined by one dot, one or two underscores, or dashes.
var refPathRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

// RemoteName is the name swemill's local image name ("swemill/NAME:TAG") has in the registry
// prefix registry: REGISTRY/NAME:TAG.
func RemoteName(registry, name string) string {
	return registry + "/" + strings.TrimPrefix(name, "swemill/")
}

// publish pushes the env image (once per builder) and the instance image of out to the
// configured registry and records their references by digest in out. Nothing happens
// without a registry. A failed push is an infrastructure error: the build is tried again.
func (b *Builder) publish(ctx context.Context, out *pipeline.Environment, env envImage, log zerolog.Logger) error {
	if b.cfg.Registry == "" {
		return nil
	}
	if ref, ok := b.pushedEnvs.Load(env.id); ok {
		out.EnvImageRef = ref.(string)
	} else {
		ref, err := PushImage(ctx, b.api, env.name, RemoteName(b.cfg.Registry, env.name))
		if err != nil {
			return err
		}
		b.pushedEnvs.Store(env.id, ref)
		out.EnvImageRef = ref
		log.Info().Str("image", env.name).Str("registry_ref", ref).Msg("env image pushed")
	}
	ref, err := pushInstance(ctx, b.api, b.cfg.Registry, out.ImageName, log)
	out.ImageRef = ref
	return err
}

func pushInstance(ctx context.Context, api dockerAPI, registry, name string, log zerolog.Logger) (string, error) {
	start := time.Now()
	ref, err := PushImage(ctx, api, name, RemoteName(registry, name))
	if err != nil {
		return "", err
	}
	log.Info().Str("image", name).Str("registry_ref", ref).Float64("seconds", time.Since(start).Seconds()).
		Msg("instance image pushed")
	return ref, nil
}

// PushEnvironment pushes the instance image env names, and its env image when the engine
// holds it, to registry (HOST[:PORT]/PREFIX), and records their references by digest in env
// (an env image the engine lacks keeps the reference env had).
func PushEnvironment(ctx context.Context, api dockerAPI, registry string, env *pipeline.Environment, log zerolog.Logger) error {
	if err := validRegistry(registry); err != nil {
		return err
	}
	if env.EnvImage != "" {
		ok, err := ImageExists(ctx, api, env.EnvImage)
		if err != nil {
			return err
		}
		if ok {
			if env.EnvImageRef, err = PushImage(ctx, api, env.EnvImage, RemoteName(registry, env.EnvImage)); err != nil {
				return err
			}
		}
	}
	ref, err := pushInstance(ctx, api, registry, env.ImageName, log)
	if err != nil {
		return err
	}
	env.ImageRef = ref
	return nil
}

// pull brings the instance image from the registry (Builder.Restore).
func (b *Builder) pull(ctx context.Context, env pipeline.Environment, log zerolog.Logger) (bool, error) {
	return PullEnvironment(ctx, b.api, env, b.usageDir(), log)
}

// PullEnvironment pulls the instance image env records from the registry (env.ImageRef),
// names it env.ImageName, checks that it is the image the build made (env.ImageID) and
// records its use in usageDir (see TouchImage), so that the disk budget and `images gc` treat
// it like a built one. It reports false, with no error, when the registry does not have it.
func PullEnvironment(ctx context.Context, api dockerAPI, env pipeline.Environment, usageDir string, log zerolog.Logger) (bool, error) {
	if env.ImageRef == "" {
		return false, nil
	}
	start := time.Now()
	log.Info().Str("image", env.ImageName).Str("registry_ref", env.ImageRef).Msg("pulling the instance image from the registry")
	id, err := PullImage(ctx, api, env.ImageRef, env.ImageName)
	if errors.Is(err, ErrNotInRegistry) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if env.ImageID != "" && id != env.ImageID {
		_, _ = api.ImageRemove(context.WithoutCancel(ctx), env.ImageName, image.RemoveOptions{})
		return false, fmt.Errorf("the image pulled from %s has id %s, but the build recorded %s", env.ImageRef, id, env.ImageID)
	}
	TouchImage(usageDir, id)
	log.Info().Str("image", env.ImageName).Str("registry_ref", env.ImageRef).Float64("seconds", time.Since(start).Seconds()).
		Msg("instance image pulled from the registry")
	return true, nil
}

// PullImage pulls ref (a reference by digest, as PushImage returns) and tags it name, so
// that the image is found by the name the record gives it. It returns the image's id.
func PullImage(ctx context.Context, api dockerAPI, ref, name string) (string, error) {
	auth, err := registryAuth(ref)
	if err != nil {
		return "", err
	}
	rc, err := api.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err == nil {
		_, err = readStream(rc, io.Discard)
		rc.Close()
	}
	if err != nil {
		if errdefs.IsNotFound(err) || strings.Contains(err.Error(), "manifest unknown") {
			return "", fmt.Errorf("pulling %s: %w: %w", ref, ErrNotInRegistry, err)
		}
		return "", fmt.Errorf("pulling %s: %w", ref, err)
	}
	info, err := api.ImageInspect(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("pulling %s: %w", ref, err)
	}
	if name != "" {
		if err := api.ImageTag(ctx, ref, name); err != nil {
			return "", fmt.Errorf("tagging %s as %s: %w", ref, name, err)
		}
	}
	return info.ID, nil
}
