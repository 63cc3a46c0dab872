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
	"strings"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
)

// Registry credentials come from the environment only, and never appear in logs or errors.
const (
	EnvRegistryUsername = "SWEMILL_REGISTRY_USERNAME"
	EnvRegistryPassword = "SWEMILL_REGISTRY_PASSWORD"
)

// registryAPI is the part of the Engine API that moves images through a registry.
type registryAPI interface {
	ImagePush(ctx context.Context, ref string, options image.PushOptions) (io.ReadCloser, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	ImageTag(ctx context.Context, source, target string) error
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
}

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
func PushImage(ctx context.Context, api registryAPI, name, ref string) (string, error) {
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

// PullImage pulls ref (a reference by digest, as PushImage returns) and tags it name, so
// that the image is found by the name the record gives it. It returns the image's id.
func PullImage(ctx context.Context, api registryAPI, ref, name string) (string, error) {
	auth, err := registryAuth(ref)
	if err != nil {
		return "", err
	}
	rc, err := api.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("pulling %s: %w", ref, err)
	}
	_, err = readStream(rc, io.Discard)
	rc.Close()
	if err != nil {
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
