package envbuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/rs/zerolog"
)

// ImageInfo describes one swemill image.
type ImageInfo struct {
	// Name is the image's swemill tag (else its first); Tags are all of them.
	Name string
	Tags []string
	ID   string
	// Layer is base, env or instance.
	Layer string
	// Key is the content hash the image was made from.
	Key string
	// Parent is the name of the image it was built on (empty for bootstrapped bases).
	Parent     string
	Repo       string
	Instance   string
	BaseCommit string
	Version    string
	// Size is the image's whole size; UniqueSize what it adds over its parent (for a base,
	// its whole size).
	Size, UniqueSize int64
	Created          time.Time
	// LastUsed is the latest of its creation, its last tagging and its last recorded use.
	LastUsed time.Time
	// Containers counts the containers (in any state) made from it; an image with
	// containers, or with child images, is in use.
	Containers int
	InUse      bool
}

// ImageExists says whether the engine holds the image name (a name or an id). Errors are
// the engine's, unwrapped.
func ImageExists(ctx context.Context, api dockerAPI, name string) (bool, error) {
	if _, err := api.ImageInspect(ctx, name); err != nil {
		if errdefs.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// ListImages lists the swemill images in the engine: bases first, then envs, then
// instances, each by name. usageDir is where uses are recorded (TouchImage); it may be empty.
func ListImages(ctx context.Context, api dockerAPI, usageDir string) ([]ImageInfo, error) {
	list, err := api.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelLayer))})
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	containers, err := api.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	used := map[string]int{}
	for _, c := range containers {
		used[c.ImageID]++
	}
	byName := map[string]*ImageInfo{}
	out := make([]ImageInfo, 0, len(list))
	for _, s := range list {
		info := ImageInfo{
			ID: s.ID, Tags: s.RepoTags, Layer: s.Labels[LabelLayer], Key: s.Labels[LabelKey],
			Parent: s.Labels[LabelParent], Repo: s.Labels[LabelRepo], Instance: s.Labels[LabelInstance],
			BaseCommit: s.Labels[LabelBaseCommit], Version: s.Labels[LabelVersion],
			Size: s.Size, UniqueSize: s.Size, Created: time.Unix(s.Created, 0), Containers: used[s.ID],
		}
		// The name is swemill's own tag; an image pushed to a registry also has the registry's.
		for _, tag := range s.RepoTags {
			if info.Name == "" || strings.HasPrefix(tag, "swemill/") && !strings.HasPrefix(info.Name, "swemill/") {
				info.Name = tag
			}
		}
		info.LastUsed = info.Created
		if usageDir != "" {
			if st, err := os.Stat(filepath.Join(usageDir, strings.TrimPrefix(s.ID, "sha256:"))); err == nil && st.ModTime().After(info.LastUsed) {
				info.LastUsed = st.ModTime()
			}
		}
		out = append(out, info)
	}
	for i := range out {
		for _, t := range out[i].Tags {
			byName[t] = &out[i]
		}
	}
	for i := range out {
		if p, ok := byName[out[i].Parent]; ok {
			out[i].UniqueSize = out[i].Size - p.Size
			p.InUse = true // a parent of a listed image
		}
	}
	for i := range out {
		if out[i].Containers > 0 {
			out[i].InUse = true
		}
	}
	rank := map[string]int{LayerBase: 0, LayerEnv: 1, LayerInstance: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Layer] != rank[out[j].Layer] {
			return rank[out[i].Layer] < rank[out[j].Layer]
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// DiskUsage returns the bytes the listed images hold together (unique sizes added up).
func DiskUsage(images []ImageInfo) int64 {
	var total int64
	for _, i := range images {
		total += i.UniqueSize
	}
	return total
}

// LayerUsage is the disk used by the images of one layer (base, env, instance).
type LayerUsage struct {
	Layer  string
	Images int
	Bytes  int64
}

// UsageByLayer sums the images' unique sizes per layer, base, env and instance in that order
// (a layer with no image counts zero).
func UsageByLayer(images []ImageInfo) []LayerUsage {
	out := []LayerUsage{{Layer: LayerBase}, {Layer: LayerEnv}, {Layer: LayerInstance}}
	for _, im := range images {
		for i := range out {
			if out[i].Layer == im.Layer {
				out[i].Images++
				out[i].Bytes += im.UniqueSize
			}
		}
	}
	return out
}

// GCOptions says what GC keeps.
type GCOptions struct {
	// KeepUnder is the disk use, in bytes, that GC brings the swemill images under.
	KeepUnder int64
	// UsageDir is where uses are recorded (TouchImage); may be empty.
	UsageDir string
	// Protect lists image ids never removed (e.g. the image just built).
	Protect []string
	// DryRun reports what would be removed without removing it.
	DryRun bool
}

// GCResult is what GC did.
type GCResult struct {
	Removed       []ImageInfo
	Before, After int64
}

// GC removes least recently used instance images, then env images left without instances,
// until the swemill images hold less than KeepUnder bytes. Base images and images in use
// (with containers or child images) are never removed; an image that gains a container
// while GC runs is refused by the engine and kept.
func GC(ctx context.Context, api dockerAPI, opts GCOptions, log zerolog.Logger) (GCResult, error) {
	var res GCResult
	if opts.KeepUnder < 0 {
		return res, fmt.Errorf("GCOptions.KeepUnder: negative")
	}
	protect := map[string]bool{}
	for _, id := range opts.Protect {
		protect[id] = true
	}
	for _, layer := range []string{LayerInstance, LayerEnv} {
		images, err := ListImages(ctx, api, opts.UsageDir)
		if err != nil {
			return res, err
		}
		if res.Before == 0 {
			res.Before = DiskUsage(images)
		}
		total := DiskUsage(images)
		var candidates []ImageInfo
		for _, i := range images {
			if i.Layer == layer && !i.InUse && !protect[i.ID] {
				candidates = append(candidates, i)
			}
		}
		sort.SliceStable(candidates, func(a, b int) bool { return candidates[a].LastUsed.Before(candidates[b].LastUsed) })
		for _, c := range candidates {
			if total < opts.KeepUnder {
				break
			}
			if !opts.DryRun {
				if err := removeImage(ctx, api, c); err != nil {
					log.Warn().Err(err).Str("image", c.Name).Msg("keeping image the engine would not remove")
					continue
				}
			}
			log.Info().Str("image", c.Name).Int64("bytes", c.UniqueSize).Msg("removed image")
			total -= c.UniqueSize
			res.Removed = append(res.Removed, c)
		}
		res.After = total
		if total < opts.KeepUnder {
			break
		}
	}
	return res, nil
}

// removeImage untags every tag (never forcing), so the engine deletes the image with its last
// tag and refuses if a container uses it.
func removeImage(ctx context.Context, api dockerAPI, i ImageInfo) error {
	refs := i.Tags
	if len(refs) == 0 {
		refs = []string{i.ID}
	}
	for _, r := range refs {
		if _, err := api.ImageRemove(ctx, r, image.RemoveOptions{PruneChildren: true}); err != nil {
			return fmt.Errorf("removing image %s: %w", r, err)
		}
	}
	return nil
}
