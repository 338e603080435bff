"""Shared fixtures: where the test audio lives, and the model cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engines.models import default_cache_dir
from testkit.paths import TESTDATA


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The shared real-audio corpus (see its MANIFEST.md for ground truth)."""
    if not (TESTDATA / "MANIFEST.md").is_file():
        pytest.fail(f"test audio not found at {TESTDATA}: set VOXGATE_TESTDATA")
    return TESTDATA


@pytest.fixture(scope="session")
def model_cache_dir() -> Path:
    """Where prepared models (joined Whisper base, unpacked YAMNet) live."""
    return Path(os.environ.get("VOXGATE_MODEL_CACHE_DIR") or default_cache_dir())


@pytest.fixture(scope="session")
def asr_tiny(model_cache_dir: Path):
    """Whisper tiny.en, loaded once per test run."""
    from engines.asr.faster_whisper import FasterWhisperASR
    from engines.models import ensure

    return FasterWhisperASR(ensure("tiny.en", model_cache_dir), name="tiny.en", cpu_threads=2)


@pytest.fixture(scope="session")
def asr_base(model_cache_dir: Path):
    """Whisper base, loaded once per test run."""
    from engines.asr.faster_whisper import FasterWhisperASR
    from engines.models import ensure

    return FasterWhisperASR(ensure("base", model_cache_dir), name="base", cpu_threads=2)
