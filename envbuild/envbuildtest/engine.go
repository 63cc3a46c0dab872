package envbuildtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"swemill/envbuild"
)

// Second engines are told apart by the test process's id and a counter: bridge names,
// containerd namespaces and subnets are unique across parallel tests and test binaries.
var engineSeq atomic.Int64

// Waits of a second engine's life.
const (
	engineStartTimeout = 60 * time.Second // until the daemon answers Ping
	engineStopTimeout  = 20 * time.Second // from SIGTERM to SIGKILL
	engineSubnetOctets = "10.213"         // its bridge's /24 is 10.213.X.0/24
	engineMTU          = 1400             // containers' MTU, as the main engine's (the uplink's)
)

// SecondEngine starts a second Docker daemon beside the machine's engine and returns its
// host ("unix:///.../docker.sock") and a client connected to it; it stops with the test.
//
// The daemon is dockerd run as a child process with its own configuration file, data root,
// exec root, pid file, socket, containerd (a managed one under its exec root), containerd
// namespaces and Linux bridge (a fresh one on a free 10.213.X.0/24), without iptables rules,
// and with the main engine's storage driver. It never touches the main engine's containerd
// or docker0: a daemon started without a bridge of its own (--bridge none) deletes docker0,
// which breaks every container of the main engine's default network. The main engine must be
// reachable (Docker's skip rule applies); without dockerd or ip the test is skipped, loudly,
// when CI is unset, and fails when it is set.
//
// When the test ends, the second engine's containers are removed, the daemon is stopped
// (SIGTERM, SIGKILL after 20 s), any process left under its directories (containerd, shims,
// fuse-overlayfs) is killed, its bridge is removed, what is mounted under its directories is
// unmounted and they are removed; the test then fails if the main engine's docker0 is gone.
// Calls may run in parallel, in one test binary or several.
func SecondEngine(t testing.TB) (host string, cli *client.Client) {
	t.Helper()
	mainCli := Docker(t)
	dockerd, errD := findProgram("dockerd")
	ipProg, errIP := findProgram("ip")
	if err := errors.Join(errD, errIP); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("\n\n*** SKIPPING SECOND-ENGINE TEST: %v.\n*** On CI this fails. ***\n\n", err)
		}
		t.Fatalf("a second Docker engine needs dockerd and ip, and CI is set: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), engineStartTimeout)
	defer cancel()
	info, err := mainCli.Info(ctx)
	if err != nil {
		t.Fatalf("asking the main engine for its storage driver: %v", err)
	}

	n := engineSeq.Add(1)
	e := &engine{
		t:      t,
		ip:     ipProg,
		name:   fmt.Sprintf("swemill-%d-%d", os.Getpid(), n),
		bridge: fmt.Sprintf("swe%dx%d", os.Getpid(), n),
	}
	if len(e.bridge) > 15 {
		t.Fatalf("bridge name %q is longer than Linux's 15 characters", e.bridge)
	}
	_, err = net.InterfaceByName("docker0")
	e.hadDocker0 = err == nil

	// Unix socket paths are limited to about 100 bytes: t.TempDir's are too long.
	e.dir, err = os.MkdirTemp("", "swe2-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stop)
	if long := filepath.Join(e.dir, "exec", "containerd", "containerd.sock"); len(long) > 100 {
		t.Fatalf("the second engine's socket %s would be longer than 100 bytes: set a shorter TMPDIR", long)
	}
	data, execRoot := filepath.Join(e.dir, "data"), filepath.Join(e.dir, "exec")
	for _, d := range []string{data, execRoot} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := json.Marshal(map[string]any{"storage-driver": info.Driver, "mtu": engineMTU, "log-driver": "json-file"})
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(e.dir, "daemon.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.addBridge(n); err != nil {
		t.Fatalf("creating the second engine's bridge %s: %v", e.bridge, err)
	}

	host = "unix://" + filepath.Join(e.dir, "docker.sock")
	e.logPath = filepath.Join(e.dir, "dockerd.log")
	logf, err := os.Create(e.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(dockerd,
		"--config-file", cfgFile,
		"--data-root", data,
		"--exec-root", execRoot,
		"--pidfile", filepath.Join(e.dir, "docker.pid"),
		"--host", host,
		"--containerd-namespace", e.name,
		"--containerd-plugins-namespace", e.name+"-plugins",
		"--bridge", e.bridge,
		"--iptables=false",
		"--ip-masq=false",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", dockerd, err)
	}
	e.cmd, e.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(e.exited) }()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		e.cli, err = envbuild.Connect(pctx, host)
		pcancel()
		if err == nil {
			return host, e.cli
		}
		select {
		case <-e.exited:
			t.Fatalf("the second engine exited before answering (%v); its log ends:\n%s", e.cmd.ProcessState, e.logTail())
		case <-ctx.Done():
			t.Fatalf("the second engine did not answer on %s within %s (%v); its log ends:\n%s", host, engineStartTimeout, err, e.logTail())
		case <-tick.C:
		}
	}
}

// engine is one second engine, as far as it got started; stop undoes what was done.
type engine struct {
	t          testing.TB
	ip         string // the ip program
	name       string // containerd namespace
	bridge     string // Linux bridge name
	dir        string // holds data, exec, the socket, the configuration and the log
	logPath    string
	hadDocker0 bool

	bridgeMade bool
	cmd        *exec.Cmd
	exited     chan struct{} // closed when cmd has exited
	cli        *client.Client
}

// stop removes the engine's containers, stops the daemon and whatever it left, removes its
// bridge and directories, and checks that the main engine's docker0 survived.
func (e *engine) stop() {
	t := e.t
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if e.cli != nil {
		list, err := e.cli.ContainerList(ctx, container.ListOptions{All: true})
		if err != nil {
			t.Errorf("listing the second engine's containers: %v", err)
		}
		for _, c := range list {
			if err := e.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
				t.Errorf("removing container %s from the second engine: %v", c.ID, err)
			}
		}
		e.cli.Close()
	}
	if e.cmd != nil {
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(engineStopTimeout):
			t.Logf("the second engine did not stop within %s of SIGTERM: killing it", engineStopTimeout)
			_ = e.cmd.Process.Kill()
			<-e.exited
		}
		if t.Failed() {
			t.Logf("the second engine's log ends:\n%s", e.logTail())
		}
	}
	// A killed daemon leaves its containers' processes, their shims and its containerd
	// behind (fuse-overlayfs goes with its mounts below).
	ids := containerIDs(filepath.Join(e.dir, "data"))
	killProcs(ctx, func(pid string) bool { return inCgroups(pid, ids) })
	killProcs(ctx, func(pid string) bool {
		cmd := cmdline(pid, e.dir)
		return cmd != "" && !strings.Contains(cmd, "fuse-overlayfs")
	})
	if err := removeCgroups(ctx, ids); err != nil {
		t.Errorf("removing the cgroups of the second engine's containers: %v", err)
	}
	if e.bridgeMade {
		if out, err := exec.Command(e.ip, "link", "delete", e.bridge).CombinedOutput(); err != nil {
			t.Errorf("removing the second engine's bridge %s: %v: %s", e.bridge, err, out)
		}
	}
	if err := unmountUnder(e.dir); err != nil {
		t.Errorf("unmounting the second engine's directories: %v", err)
	}
	killProcs(ctx, func(pid string) bool { return cmdline(pid, e.dir) != "" })
	if err := os.RemoveAll(e.dir); err != nil {
		t.Errorf("removing the second engine's directory: %v", err)
	}
	if e.hadDocker0 {
		if _, err := net.InterfaceByName("docker0"); err != nil {
			t.Errorf("\n\n*** THE MAIN ENGINE'S docker0 IS GONE after a second engine stopped (%v).\n"+
				"*** Containers on its default network now fail; restart the main engine. ***\n\n", err)
		}
	}
}

// addBridge creates the engine's bridge on a /24 that no interface or route of the machine
// uses. A lock file serialises the choice across test binaries; pid and counter spread the
// first guess.
func (e *engine) addBridge(n int64) error {
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "swemill-second-engine.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()

	used, err := usedNets()
	if err != nil {
		return err
	}
	first := (os.Getpid()*7 + int(n)) % 256
	var subnet *net.IPNet
	for i := range 256 {
		_, c, _ := net.ParseCIDR(fmt.Sprintf("%s.%d.0/24", engineSubnetOctets, (first+i)%256))
		if !overlaps(c, used) {
			subnet = c
			break
		}
	}
	if subnet == nil {
		return fmt.Errorf("no free /24 in %s.0.0/16", engineSubnetOctets)
	}
	// A bridge of this name can only be a leftover of a dead process that had this pid.
	_ = exec.Command(e.ip, "link", "delete", e.bridge).Run()
	if out, err := exec.Command(e.ip, "link", "add", e.bridge, "type", "bridge").CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	e.bridgeMade = true
	gw := subnet.IP.To4()
	gw[3] = 1
	addr := (&net.IPNet{IP: gw, Mask: subnet.Mask}).String()
	for _, args := range [][]string{{"addr", "add", addr, "dev", e.bridge}, {"link", "set", e.bridge, "up"}} {
		if out, err := exec.Command(e.ip, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// usedNets lists the IPv4 networks of the machine's interfaces and routes (the default route
// aside).
func usedNets() ([]*net.IPNet, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing interface addresses: %w", err)
	}
	var nets []*net.IPNet
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			nets = append(nets, n)
		}
	}
	routes, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return nil, fmt.Errorf("reading the routes: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(routes))
	sc.Scan() // the header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, err1 := hex.DecodeString(f[1])
		mask, err2 := hex.DecodeString(f[7])
		if err1 != nil || err2 != nil || len(dst) != 4 || len(mask) != 4 || binary.LittleEndian.Uint32(mask) == 0 {
			continue
		}
		// The kernel prints them in host (little-endian) order.
		slices.Reverse(dst)
		slices.Reverse(mask)
		nets = append(nets, &net.IPNet{IP: net.IP(dst), Mask: net.IPMask(mask)})
	}
	return nets, nil
}

// overlaps says whether c shares an address with one of used.
func overlaps(c *net.IPNet, used []*net.IPNet) bool {
	for _, u := range used {
		if c.Contains(u.IP) || u.Contains(c.IP) {
			return true
		}
	}
	return false
}

// containerIDs lists the ids of the containers an engine keeps in dataRoot.
func containerIDs(dataRoot string) []string {
	entries, _ := os.ReadDir(filepath.Join(dataRoot, "containers"))
	var ids []string
	for _, en := range entries {
		if len(en.Name()) == 64 {
			ids = append(ids, en.Name())
		}
	}
	return ids
}

// inCgroups says whether process pid is in the cgroup of one of the containers ids.
func inCgroups(pid string, ids []string) bool {
	if len(ids) == 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		return false
	}
	for _, id := range ids {
		if bytes.Contains(b, []byte(id)) {
			return true
		}
	}
	return false
}

// removeCgroups removes the cgroups of the containers ids, which a killed daemon leaves
// (cgroupfs puts them under docker/ in each hierarchy); a cgroup is busy until the last
// thread of its killed processes has exited, so it tries for 10 s.
func removeCgroups(ctx context.Context, ids []string) error {
	var dirs []string
	for _, id := range ids {
		for _, pat := range []string{"/sys/fs/cgroup/docker/" + id, "/sys/fs/cgroup/*/docker/" + id} {
			m, _ := filepath.Glob(pat)
			dirs = append(dirs, m...)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, d := range dirs {
		for {
			err := os.Remove(d)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("removing cgroup %s: %w", d, err)
			case <-tick.C:
			}
		}
	}
	return nil
}

// cmdline is the command line of process pid, arguments joined by spaces, when it names
// something under dir; else "".
func cmdline(pid, dir string) string {
	b, err := os.ReadFile("/proc/" + pid + "/cmdline")
	if err != nil || !bytes.Contains(b, []byte(dir+"/")) {
		return ""
	}
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

// killProcs kills, with SIGKILL, the processes (other than this one) that match, and waits
// (10 s at most) for them to exit.
func killProcs(ctx context.Context, match func(pid string) bool) {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	var pids []int
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == os.Getpid() || !match(filepath.Base(p)) {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			pids = append(pids, pid)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, pid := range pids {
		for processAlive(pid) {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}
}

// processAlive says whether pid is a process that has not exited (a zombie has, though
// its other threads may still be exiting).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// unmountUnder unmounts, deepest first, whatever /proc/self/mountinfo lists at or under dir:
// umount, then fusermount -u (fuse-overlayfs), then a lazy umount.
func unmountUnder(dir string) error {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(info), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		p := unescapeMount(f[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	var errs []error
	for i := len(points) - 1; i >= 0; i-- {
		p := points[i]
		var out []byte
		for _, args := range [][]string{{"umount", p}, {"fusermount", "-u", p}, {"umount", "-l", p}} {
			if out, err = exec.Command(args[0], args[1:]...).CombinedOutput(); err == nil {
				break
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("unmounting %s: %w: %s", p, err, out))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// findProgram finds a system program on PATH, else in /usr/sbin or /sbin (which a user's PATH
// may lack).
func findProgram(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH, in /usr/sbin or /sbin", name)
}

// logTail is the end of the daemon's log.
func (e *engine) logTail() string {
	b, err := os.ReadFile(e.logPath)
	if err != nil {
		return err.Error()
	}
	const keep = 4000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}
