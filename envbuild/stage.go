package envbuild

import (
	"context"

	"swemill/pipeline"
)

// BuildLogArtifact names the build log the stage stores for an instance.
const BuildLogArtifact = "build.log"

// Stage is the build stage: it turns an item's Instance into its runtime image and returns
// a pipeline.Environment. Bad input (a failing recipe, a missing repository or commit, a
// repository or image over its size limit) is a pipeline drop whose detail carries the tail
// of the build log; engine failures are plain errors, retried by the runner.
type Stage struct {
	b *Builder
}

var _ pipeline.Processor = (*Stage)(nil)

// NewStage returns the build stage over b.
func NewStage(b *Builder) *Stage { return &Stage{b: b} }

// Process builds item.Instance. The build log, when there is one, is stored as the artifact
// BuildLogArtifact, also when the build fails or drops the instance.
func (s *Stage) Process(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
	var out pipeline.Output
	res, err := s.b.Build(ctx, item.Instance, item.Log)
	if len(res.Log) > 0 && item.Artifacts != nil {
		ref, perr := item.Artifacts.Put(BuildLogArtifact, res.Log)
		if perr != nil && err == nil {
			return out, perr
		}
		if perr == nil {
			out.Artifacts = append(out.Artifacts, ref)
		}
	}
	if err != nil {
		return out, err
	}
	out.Record = res.Environment
	return out, nil
}

// WithImages returns p behind a check that the item's instance image is on the engine
// (Builder.Restore): the later stages (validate, rollout) wrap their processors in it, so an
// image that the disk budget or `swemill images gc` collected, or that another machine
// built, is rebuilt from its stored recipe instead of failing every attempt.
func WithImages(p pipeline.Processor, b *Builder) pipeline.Processor {
	return pipeline.ProcessorFunc(func(ctx context.Context, item *pipeline.Item) (pipeline.Output, error) {
		if item.Environment != nil && item.Environment.ImageName != "" {
			if _, err := b.Restore(ctx, item.Instance, *item.Environment, item.Log); err != nil {
				return pipeline.Output{}, err
			}
		}
		return p.Process(ctx, item)
	})
}
