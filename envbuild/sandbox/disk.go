package sandbox

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// Disk limits. Storage drivers that bound a container's writable layer (storage-opt size)
// are few (overlay2 on xfs with project quotas, btrfs, zfs), and fuse-overlayfs, vfs and
// overlay2 on ext4 are not among them, so the sandbox guards the layer itself: a watchdog
// measures it while the command runs and kills the container past Config.DiskLimit. Where
// the engine's layer directory (its GraphDriver UpperDir) is readable from this process, the
// watchdog walks it (every DiskPoll); otherwise it asks the engine for the layer's size
// (ContainerInspect with sizes; slower, so at most every 5 s).

// diskProbe measures a container's writable layer, in bytes.
type diskProbe func(ctx context.Context) (int64, error)

// sizeAPI is the engine call the watchdog falls back on; *client.Client has it.
type sizeAPI interface {
	ContainerInspectWithRaw(ctx context.Context, containerID string, getSize bool) (container.InspectResponse, []byte, error)
}

var _ sizeAPI = (*client.Client)(nil)

// newDiskProbe picks how to measure c's writable layer, and how often.
func (c *Container) newDiskProbe(ctx context.Context) (diskProbe, time.Duration, string) {
	if ins, err := c.s.api.ContainerInspect(ctx, c.ID); err == nil && ins.GraphDriver.Data != nil {
		if upper := ins.GraphDriver.Data["UpperDir"]; upper != "" {
			if st, err := os.Stat(upper); err == nil && st.IsDir() {
				return func(ctx context.Context) (int64, error) { return dirUsage(ctx, upper) }, c.s.cfg.DiskPoll, "layer directory"
			}
		}
	}
	if sz, ok := c.s.api.(sizeAPI); ok {
		return func(ctx context.Context) (int64, error) {
			ins, _, err := sz.ContainerInspectWithRaw(ctx, c.ID, true)
			if err != nil || ins.SizeRw == nil {
				return 0, err
			}
			return *ins.SizeRw, nil
		}, max(c.s.cfg.DiskPoll, 5*time.Second), "engine"
	}
	return nil, 0, ""
}

// dirUsage sums the disk blocks of the files under dir (hard links once).
func dirUsage(ctx context.Context, dir string) (int64, error) {
	var total int64
	seen := map[[2]uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file removed while walking
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			if st.Nlink > 1 {
				k := [2]uint64{uint64(st.Dev), st.Ino}
				if seen[k] {
					return nil
				}
				seen[k] = true
			}
			total += st.Blocks * 512
			return nil
		}
		total += info.Size()
		return nil
	})
	return total, err
}

// watchDisk measures the writable layer until ctx is done; past limit it closes over, once.
func (c *Container) watchDisk(ctx context.Context, over chan<- int64) {
	probe, every, how := c.newDiskProbe(ctx)
	if probe == nil {
		c.s.log.Warn().Str("container", short(c.ID)).Msg("no way to measure the container's writable layer: its disk use is not bounded")
		return
	}
	c.s.log.Debug().Str("container", short(c.ID)).Str("probe", how).Dur("every", every).Msg("disk watchdog")
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := probe(ctx)
		if err != nil {
			continue
		}
		if n > c.s.cfg.DiskLimit {
			over <- n
			return
		}
	}
}

// GuardDisk keeps Config.DiskLimit for a container whose commands run by Exec (a long-lived
// workspace) rather than by Run: until stop is called, the watchdog measures its writable
// layer and, past the limit, kills the container, so every later Exec fails; DiskExceeded
// then says why. With no limit set it does nothing. Call stop before removing the container.
func (c *Container) GuardDisk(ctx context.Context) (stop func()) {
	if c.s.cfg.DiskLimit <= 0 {
		return func() {}
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	over := make(chan int64, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		watched := make(chan struct{})
		go func() { defer close(watched); c.watchDisk(wctx, over) }()
		select {
		case n := <-over:
			c.diskOver.Store(n)
			c.s.log.Warn().Str("container", short(c.ID)).Int64("bytes", n).Int64("limit", c.s.cfg.DiskLimit).
				Msg("the container wrote past the disk limit: killed")
			c.kill(wctx)
		case <-wctx.Done():
		}
		<-watched // stop returns when nothing of the guard runs on
	}()
	return func() { cancel(); <-done }
}

// DiskExceeded returns what the container's writable layer measured when GuardDisk killed
// it for passing Config.DiskLimit, or 0 when it did not.
func (c *Container) DiskExceeded() int64 { return c.diskOver.Load() }

// DiskLimit returns Config.DiskLimit (0: none).
func (s *Sandbox) DiskLimit() int64 { return s.cfg.DiskLimit }
