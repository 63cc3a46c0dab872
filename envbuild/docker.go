package envbuild

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"swemill/envbuild/sandbox"
)

// dockerAPI is the part of the Engine API that envbuild uses. *client.Client implements it;
// tests may pass anything else that does.
type dockerAPI interface {
	sandbox.API
	Ping(ctx context.Context) (types.Ping, error)
	ImageLoad(ctx context.Context, input io.Reader, loadOpts ...client.ImageLoadOption) (image.LoadResponse, error)
	ImageImport(ctx context.Context, source image.ImportSource, ref string, options image.ImportOptions) (io.ReadCloser, error)
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	ImageRemove(ctx context.Context, imageID string, options image.RemoveOptions) ([]image.DeleteResponse, error)
	ImageTag(ctx context.Context, source, target string) error
	ImagePush(ctx context.Context, ref string, options image.PushOptions) (io.ReadCloser, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
}

var _ dockerAPI = (*client.Client)(nil)

// Engine is a connection to a Docker engine, as Connect returns it: the calls envbuild and
// its sandbox make, and Close. Callers outside envbuild hold the connection as an Engine and
// hand it to envbuild and sandbox functions; they make no Engine call of their own.
type Engine interface {
	dockerAPI
	Close() error
}

var _ Engine = (*client.Client)(nil)

// Connect returns a client for the engine at host ("" means $DOCKER_HOST, else the default
// socket, unix:///var/run/docker.sock), negotiating the API version (engines as old as 20.10 / API
// 1.41 work) and checking that the engine answers. The caller closes the client.
func Connect(ctx context.Context, host string) (*client.Client, error) {
	// The environment's DOCKER_HOST (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) apply unless
	// host says otherwise.
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating docker client: %w", err)
	}
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("reaching docker engine: %w", err)
	}
	cli.NegotiateAPIVersion(ctx)
	return cli, nil
}

// Labels that swemill puts on its images and containers.
const (
	LabelLayer      = "swemill.layer"       // base, env or instance
	LabelKey        = "swemill.key"         // content hash of what made the image
	LabelParent     = "swemill.parent"      // the image this one was built on (name)
	LabelVersion    = "swemill.version"     // swemill version that built it
	LabelLanguage   = "swemill.language"    // python or go
	LabelRepo       = "swemill.repo"        // owner/name (instance images)
	LabelInstance   = sandbox.LabelInstance // instance id (instance images; containers too)
	LabelBaseCommit = "swemill.base_commit" // base commit (instance images)
	LabelRecipe     = "swemill.recipe"      // recipe JSON (env and instance images)
)

// Layer names as found in LabelLayer.
const (
	LayerBase     = "base"
	LayerEnv      = "env"
	LayerInstance = "instance"
)

// streamMessage is one line of the engine's JSON progress stream (import, load).
type streamMessage struct {
	Stream      string                    `json:"stream"`
	Status      string                    `json:"status"`
	Error       string                    `json:"error"`
	ErrorDetail *struct{ Message string } `json:"errorDetail"`
	Aux         json.RawMessage           `json:"aux"`
}

// errBuildStep is an error the engine reported inside a progress stream (an import or a
// load that it refused).
var errBuildStep = errors.New("engine refused")

// readStream reads a JSON progress stream, writing its text to log and returning the image id
// carried in an aux message (builds) or status (imports). A message with an error becomes an
// error wrapping errBuildStep.
func readStream(r io.Reader, log io.Writer) (string, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	id := ""
	for {
		var m streamMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return id, nil
			}
			return id, fmt.Errorf("reading engine stream: %w", err)
		}
		if m.Stream != "" {
			io.WriteString(log, m.Stream)
		}
		if m.Status != "" {
			io.WriteString(log, m.Status+"\n")
			if strings.HasPrefix(m.Status, "sha256:") {
				id = strings.TrimSpace(m.Status)
			}
		}
		if len(m.Aux) > 0 {
			var aux struct{ ID string }
			if json.Unmarshal(m.Aux, &aux) == nil && aux.ID != "" {
				id = aux.ID
			}
		}
		if m.Error != "" {
			io.WriteString(log, m.Error+"\n")
			return id, fmt.Errorf("%w: %s", errBuildStep, m.Error)
		}
	}
}
