"""Engine registry: one name → factory table per engine kind.

A setting names an engine (``asr_engine``, ``tts_engine``…) and a model. The loader
(:mod:`realtime.inference.loading`) looks the engine up here, resolves the model setting to
files with :func:`engines.models.resolve` for the entry's ``model_kind``, and calls the
entry's factory with plain values: the resolved :class:`ModelFiles` and
:class:`EngineOptions`. Factories import their engine module when called, so importing
this module loads no model runtime, and nothing registers itself at import time.

Adding an engine: write its module (satisfying the kind's Protocol in :mod:`engines.base`),
add one :class:`EngineEntry` to the kind's table below, and register its model in
:data:`engines.models.REGISTRY` (with a new :class:`~engines.models.Kind` if its files
differ from every existing kind).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from engines.models import Kind

if TYPE_CHECKING:  # annotations only: importing the tables imports no numpy
    from engines.asr.faster_whisper import FasterWhisperASR
    from engines.base import ASREngine, AudioTagger, SpeakerEmbedder, TTSEngine, VADEngine

E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """A model setting resolved to files: what a factory loads.

    Attributes:
        name: Display name of the model (a registry name, or the file or directory name
            of a user's own model).
        path: The file or directory the engine loads.
    """

    name: str
    path: Path


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Plain loading options; each engine applies those it has and ignores the rest.

    Attributes:
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        compute_type: Numeric precision; ``"default"`` lets the engine choose per device.
        cpu_threads: Intra-op threads per call (0: the engine decides).
        workers: Calls one loaded model may run at once.
        partial_model: ASR only: a second, faster model for live partial transcripts;
            None: the main model does both.
    """

    device: str = "auto"
    compute_type: str = "default"
    cpu_threads: int = 0
    workers: int = 1
    partial_model: ModelFiles | None = None


@dataclass(frozen=True, slots=True)
class EngineEntry(Generic[E]):
    """One engine of a kind.

    Attributes:
        name: What the setting says (``"faster-whisper"``, ``"piper"``).
        display_name: One line for logs and help.
        model_kind: The kind of model it loads: model settings are resolved for it.
        default_model: The registry model its model setting defaults to.
        factory: ``factory(model, options)`` → the loaded engine.

    Raises:
        ModelNotFound: (from the factory) the files cannot be loaded.
    """

    name: str
    display_name: str
    model_kind: Kind
    default_model: str
    factory: Callable[[ModelFiles, EngineOptions], E]


class UnknownEngine(ValueError):
    """A setting names an engine that no table lists."""


@dataclass(frozen=True, slots=True)
class EngineTable(Generic[E]):
    """The engines of one kind, by name.

    Attributes:
        kind: What they are, for messages (``"ASR"``, ``"TTS"``).
        entries: Entries by name, the default first.
    """

    kind: str
    entries: Mapping[str, EngineEntry[E]]

    @classmethod
    def of(cls, kind: str, *entries: EngineEntry[E]) -> EngineTable[E]:
        """Build a table from its entries (the first is the default)."""
        return cls(kind, {entry.name: entry for entry in entries})

    @property
    def names(self) -> tuple[str, ...]:
        """The engine names, the default first."""
        return tuple(self.entries)

    @property
    def default(self) -> EngineEntry[E]:
        """The default entry (the first)."""
        return next(iter(self.entries.values()))

    def __iter__(self) -> Iterator[EngineEntry[E]]:
        """The entries, the default first."""
        return iter(self.entries.values())

    def entry(self, name: str) -> EngineEntry[E]:
        """The entry called ``name``.

        Raises:
            UnknownEngine: no such engine (a one-line message listing the choices).
        """
        found = self.entries.get(name)
        if found is None:
            choices = ", ".join(self.names)
            raise UnknownEngine(f"unknown {self.kind} engine {name!r}: use one of {choices}")
        return found


# --- factories (each imports its engine when called) -------------------------------------


def _whisper_model(model: ModelFiles, options: EngineOptions) -> FasterWhisperASR:
    from engines.asr.faster_whisper import FasterWhisperASR

    return FasterWhisperASR(
        model.path,
        name=model.name,
        device=options.device,
        compute_type=options.compute_type,
        cpu_threads=options.cpu_threads,
        num_workers=options.workers,
    )


def faster_whisper(model: ModelFiles, options: EngineOptions) -> ASREngine:
    """Streaming Whisper: ``model`` for finals and batch, ``options.partial_model`` for partials."""
    from engines.asr.incremental import StreamingWhisper

    final = _whisper_model(model, options)
    partial = options.partial_model
    return StreamingWhisper(final if partial is None else _whisper_model(partial, options), final)


def silero(model: ModelFiles, options: EngineOptions) -> VADEngine:
    """Silero VAD v6 (ONNX) with ``server_vad`` hysteresis."""
    from engines.vad.silero import SileroVAD

    return SileroVAD(model.path)


def piper(model: ModelFiles, options: EngineOptions) -> TTSEngine:
    """A Piper voice (``.onnx`` with its ``.onnx.json``)."""
    from engines.tts.piper import PiperTTS

    return PiperTTS(model.path)


def hibari(model: ModelFiles, options: EngineOptions) -> TTSEngine:
    """The bundled hibari voice (af_heart)."""
    from engines.tts.hibari import HibariTTS

    return HibariTTS(model.path)


def yamnet(model: ModelFiles, options: EngineOptions) -> AudioTagger:
    """YAMNet (int8 ONNX, AudioSet classes)."""
    from engines.tagging.yamnet import YamnetTagger

    return YamnetTagger(model.path)


def dvector(model: ModelFiles, options: EngineOptions) -> SpeakerEmbedder:
    """The 256-d speaker d-vector (ONNX)."""
    from engines.diarization.dvector import DVectorEmbedder

    return DVectorEmbedder(model.path)


# --- the tables ----------------------------------------------------------------------------

ASR_ENGINES: EngineTable[ASREngine] = EngineTable.of(
    "ASR",
    EngineEntry(
        name="faster-whisper",
        display_name="Whisper on faster-whisper (CTranslate2)",
        model_kind=Kind.WHISPER,
        default_model="base",
        factory=faster_whisper,
    ),
)
"""Speech recognition engines (setting ``asr_engine``)."""

VAD_ENGINES: EngineTable[VADEngine] = EngineTable.of(
    "VAD",
    EngineEntry(
        name="silero",
        display_name="Silero VAD v6 (ONNX)",
        model_kind=Kind.VAD,
        default_model="silero-vad-v6",
        factory=silero,
    ),
)
"""Voice activity detectors."""

TTS_ENGINES: EngineTable[TTSEngine] = EngineTable.of(
    "TTS",
    EngineEntry(
        name="piper",
        display_name="Piper (VITS ONNX voices; GPL-3.0 runtime)",
        model_kind=Kind.PIPER,
        default_model="piper-joe",
        factory=piper,
    ),
    EngineEntry(
        name="hibari",
        display_name="hibari (Apache-2.0)",
        model_kind=Kind.HIBARI,
        default_model="hibari-heart",
        factory=hibari,
    ),
)
"""Speech synthesisers (setting ``tts_engine``)."""

TAGGER_ENGINES: EngineTable[AudioTagger] = EngineTable.of(
    "tagger",
    EngineEntry(
        name="yamnet",
        display_name="YAMNet (int8 ONNX, AudioSet classes)",
        model_kind=Kind.YAMNET,
        default_model="yamnet",
        factory=yamnet,
    ),
)
"""Sound-event taggers (non-speech events)."""

EMBEDDER_ENGINES: EngineTable[SpeakerEmbedder] = EngineTable.of(
    "embedder",
    EngineEntry(
        name="dvector",
        display_name="speaker d-vector (ONNX)",
        model_kind=Kind.DVECTOR,
        default_model="dvector",
        factory=dvector,
    ),
)
"""Speaker embedders (diarization)."""
