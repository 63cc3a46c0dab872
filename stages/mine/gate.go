package mine

import (
	"context"
	"errors"

	"swemill/difftext"
	"swemill/pipeline"
)

// DropUnsafePatch drops an instance whose patch or test patch the patch gate refuses: a
// symbolic link, a path outside the tree or under .git, a mode that is not a regular
// file's (difftext.CheckPatchAt). It is a security drop (pipeline.IsSecurityReason).
const DropUnsafePatch = pipeline.ReasonUnsafePatch

// gateHalves passes both halves of an instance through the patch gate, at base in the
// repository at gitDir, before anything (git apply --check included) reads them as a
// patch. A refusal is a drop reason: unsafe_patch, or diff_unreadable for a half the gate
// cannot read whole. Errors are git's.
func gateHalves(ctx context.Context, gitDir, base, patch, testPatch string) (reason, detail string, err error) {
	for _, h := range []struct{ name, text string }{{"patch", patch}, {"test_patch", testPatch}} {
		err := difftext.CheckPatchAt(ctx, gitDir, base, h.text)
		var ue *difftext.UnsafePatchError
		var se *difftext.SyntaxError
		switch {
		case errors.As(err, &ue):
			return DropUnsafePatch, h.name + ": " + ue.Error(), nil
		case errors.As(err, &se):
			return DropDiffUnreadable, h.name + ": " + se.Error(), nil
		case err != nil:
			return "", "", err
		}
	}
	return "", "", nil
}
