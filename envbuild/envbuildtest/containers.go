package envbuildtest

import (
	"context"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Container is a container as the engine lists it.
type Container = container.Summary

// labelFilters filters on every label of labels (key=value).
func labelFilters(labels map[string]string) filters.Args {
	args := filters.NewArgs()
	for k, v := range labels {
		args.Add("label", k+"="+v)
	}
	return args
}

// Containers lists the containers that carry every label of labels (key: value), the
// stopped ones too when all is set.
func Containers(ctx context.Context, cli *client.Client, all bool, labels map[string]string) ([]Container, error) {
	return cli.ContainerList(ctx, container.ListOptions{All: all, Filters: labelFilters(labels)})
}

// RemoveContainer kills and removes a container.
func RemoveContainer(ctx context.Context, cli *client.Client, id string) error {
	return cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
}

// RemoveImage removes an image (by name or id) and the parent images only it held, even
// when a container or another tag refers to it.
func RemoveImage(ctx context.Context, cli *client.Client, ref string) error {
	_, err := cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
	return err
}

// ContainerEvents streams the engine's events of the given action ("create", "destroy",
// "exec_start"...) about containers that carry every label of labels, until ctx is done.
func ContainerEvents(ctx context.Context, cli *client.Client, action string, labels map[string]string) (<-chan events.Message, <-chan error) {
	args := labelFilters(labels)
	args.Add("type", "container")
	args.Add("event", action)
	return cli.Events(ctx, events.ListOptions{Filters: args})
}
