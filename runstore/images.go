package runstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"swemill/pipeline"
)

// BuiltImage is an instance whose build is done, with the environment the build recorded.
type BuiltImage struct {
	InstanceID  string
	Environment pipeline.Environment
}

// ErrImageSelector is Built's answer to a selector that does not say which instances (or
// that selects by a failure, which has no image).
var ErrImageSelector = errors.New("say which built instances (--repo R, --instance ID or --all)")

// Built lists, by instance id, the instances sel names (Repo, Instances or All) whose build
// is done, with their environments. Instances named but not built are left out.
func (s *Store) Built(ctx context.Context, sel Selector) ([]BuiltImage, error) {
	if sel.Failed || len(sel.Dropped) > 0 || (sel.Repo == "" && len(sel.Instances) == 0 && !sel.All) {
		return nil, ErrImageSelector
	}
	sel.All = false
	ids, _, err := s.selectForRerun(ctx, pipeline.StageBuild, sel)
	if err != nil {
		return nil, err
	}
	var out []BuiltImage
	for _, id := range ids {
		r, err := loadStage(ctx, s.db.read(), "", id, pipeline.StageBuild)
		if err != nil {
			return nil, err
		}
		if r.state != pipeline.StateDone || !r.output.Valid {
			continue
		}
		b := BuiltImage{InstanceID: id}
		if err := json.Unmarshal([]byte(r.output.String), &b.Environment); err != nil {
			return nil, &badRecordError{fmt.Errorf("decoding build output of %s: %w", id, err)}
		}
		out = append(out, b)
	}
	return out, nil
}

// RecordImageRefs writes where a registry holds an instance's images (references by digest)
// into its build output, when that output still names the image imageID, and reports whether
// it did. Nothing else changes and no later result goes stale: the image is the same one,
// now also in a registry.
func (s *Store) RecordImageRefs(ctx context.Context, instance, imageID, ref, envRef string) (bool, error) {
	done := false
	err := s.db.inTx(ctx, func(tx txn) error {
		r, err := loadStage(ctx, tx, s.db.forUpdate(), instance, pipeline.StageBuild)
		if err != nil {
			return err
		}
		if r.state != pipeline.StateDone || !r.output.Valid {
			return nil
		}
		var env pipeline.Environment
		if err := json.Unmarshal([]byte(r.output.String), &env); err != nil {
			return &badRecordError{fmt.Errorf("decoding build output of %s: %w", instance, err)}
		}
		if env.ImageID != imageID {
			return nil
		}
		env.ImageRef, env.EnvImageRef = ref, envRef
		out, err := json.Marshal(env)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE swemill_stage_states SET output = $1
			WHERE instance_id = $2 AND stage = $3 AND generation = $4`, string(out), instance, pipeline.StageBuild, r.generation); err != nil {
			return fmt.Errorf("recording the image references of %s: %w", instance, err)
		}
		done = true
		return nil
	})
	return done, err
}
