#!/usr/bin/env bash
# Recompute the fidelity corpus ground truth from bare git mirrors.
#   bench/fidelity/reference/compute.sh MIRRORS_DIR [INSTANCE_ID...]
# MIRRORS_DIR holds OWNER/NAME.git (bare repositories or symlinks to them).
# Environment: WORK (scratch dir, default /tmp/fidelity-work), OUT (output corpus, default
# $WORK/corpus.recomputed.json), JOBS (parallel cases = containers at once, default 2),
# PY_IMAGE / GO_IMAGE (default: the first swemill/base-python / swemill/base-go image listed).
# Needs: docker, git, python3 on the host (root, to chown trees to uid 1000).  Go cases download
# modules through the Go module proxy in a prepare container; tests then run with no network.
# Prints a DIFF line for every case whose recomputed lists differ from corpus.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { sed -n '2,12p' "$0"; exit 2; }
mirrors=$1; shift
WORK=${WORK:-/tmp/fidelity-work}
OUT=${OUT:-$WORK/corpus.recomputed.json}
args=(--mirrors "$mirrors" --cases "$here/../corpus.json" --work "$WORK" --out "$OUT" --jobs "${JOBS:-2}")
[ -n "${PY_IMAGE:-}" ] && args+=(--py-image "$PY_IMAGE")
[ -n "${GO_IMAGE:-}" ] && args+=(--go-image "$GO_IMAGE")
exec python3 "$here/compute.py" "${args[@]}" "$@"
