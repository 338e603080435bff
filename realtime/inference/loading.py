"""Build engines from settings, through the engine tables of :mod:`engines.registry`.

Each loader looks up the configured engine, resolves its model setting (a registry name or a
path) for the entry's model kind, and calls the entry's factory once. Every loader raises
:class:`engines.errors.ModelNotFound` with a one-line message when its model is unusable;
callers turn that into a clean exit or a startup failure.
"""

from __future__ import annotations

from typing import TypeVar

from engines.base import (
    ASREngine,
    AudioTagger,
    ChatModel,
    Engines,
    SpeakerEmbedder,
    TTSEngine,
    VADEngine,
)
from engines.models import Kind, ProgressFactory, no_progress, resolve
from engines.registry import (
    ASR_ENGINES,
    EMBEDDER_ENGINES,
    TAGGER_ENGINES,
    TTS_ENGINES,
    VAD_ENGINES,
    EngineEntry,
    EngineOptions,
    ModelFiles,
)
from realtime.responders import AUTO
from realtime.server.settings import Settings

EMBEDDED_LLM = "smollm2"
"""The embedded language model when ``llm_model`` is unset."""

E = TypeVar("E")


def _model_files(
    setting: str, entry: EngineEntry[E], settings: Settings, progress: ProgressFactory
) -> ModelFiles:
    """Resolve a model setting for ``entry``; a path's display name is its last component."""
    path = resolve(setting, entry.model_kind, settings.model_cache_dir, progress)
    return ModelFiles(name=setting if "/" not in setting else path.name, path=path)


def _load(
    entry: EngineEntry[E],
    setting: str,
    settings: Settings,
) -> E:
    """Resolve ``setting`` for ``entry`` and build the engine with default options."""
    return entry.factory(_model_files(setting, entry, settings, no_progress), EngineOptions())


def load_asr(
    settings: Settings, *, partials: bool = True, progress: ProgressFactory | None = None
) -> ASREngine:
    """Load the ASR engine: ``asr_final_model`` for finals and batch, ``asr_model`` for partials.

    Args:
        settings: The settings.
        partials: Also load ``asr_model`` for live partials when it differs from
            ``asr_final_model``; False (batch use) loads the final model alone.
        progress: Shows the preparation of a model's cache copy.
    """
    entry = ASR_ENGINES.entry(settings.asr_engine)
    bar = progress or no_progress
    final = _model_files(settings.asr_final_model, entry, settings, bar)
    partial = None
    if partials and settings.asr_model != settings.asr_final_model:
        partial = _model_files(settings.asr_model, entry, settings, bar)
    options = EngineOptions(
        device=settings.asr_device,
        compute_type=settings.asr_compute_type,
        cpu_threads=settings.asr_threads,
        # one decode per scheduler thread at once: two sessions' decodes of one model run
        # together instead of queueing inside it (bench/RESULTS.md)
        workers=settings.inference_workers,
        partial_model=partial,
    )
    return entry.factory(final, options)


def load_vad(settings: Settings) -> VADEngine:
    """Load the voice activity detector (the VAD table's default engine)."""
    return _load(VAD_ENGINES.default, settings.vad_model, settings)


def load_tts(settings: Settings) -> TTSEngine:
    """Load the configured speech engine and voice."""
    return _load(TTS_ENGINES.entry(settings.tts_engine), settings.tts_model, settings)


def load_tagger(settings: Settings) -> AudioTagger:
    """Load the sound-event tagger (the tagger table's default engine)."""
    return _load(TAGGER_ENGINES.default, settings.tagger_model, settings)


def load_embedder(settings: Settings) -> SpeakerEmbedder:
    """Load the speaker embedder (the embedder table's default engine)."""
    return _load(EMBEDDER_ENGINES.default, settings.embedder_model, settings)


def wants_embedded_llm(settings: Settings) -> bool:
    """Realtime responses may use a language model and no endpoint is configured."""
    return settings.responder in (AUTO, "llm") and not settings.llm_base_url


def load_llm(settings: Settings, progress: ProgressFactory | None = None) -> ChatModel:
    """Load the embedded language model (``llm_model``: a registry name or a GGUF file).

    Raises:
        ModelNotFound: the model is unusable (one-line message).
        LLMError: llama.cpp cannot load it.
    """
    from engines.llm.llamacpp import EmbeddedChat

    path = resolve(
        settings.llm_model or EMBEDDED_LLM,
        Kind.LLM,
        settings.model_cache_dir,
        progress or no_progress,
    )
    return EmbeddedChat.load(
        path,
        threads=settings.llm_threads,
        parallel=settings.llm_parallel,
        context_tokens=settings.llm_context_tokens,
    )


def check_models(settings: Settings, *, progress: ProgressFactory | None = None) -> None:
    """Resolve every configured model (preparing cache copies), without loading any.

    Raises:
        UnknownEngine: an engine setting names no registered engine.
        ModelNotFound: the first unusable model, with its one-line fix.
    """
    asr = ASR_ENGINES.entry(settings.asr_engine)
    for value, entry in (
        (settings.asr_model, asr),
        (settings.asr_final_model, asr),
        (settings.vad_model, VAD_ENGINES.default),
        (settings.tts_model, TTS_ENGINES.entry(settings.tts_engine)),
        (settings.tagger_model, TAGGER_ENGINES.default),
        (settings.embedder_model, EMBEDDER_ENGINES.default),
    ):
        resolve(value, entry.model_kind, settings.model_cache_dir, progress or no_progress)
    if wants_embedded_llm(settings):
        resolve(
            settings.llm_model or EMBEDDED_LLM,
            Kind.LLM,
            settings.model_cache_dir,
            progress or no_progress,
        )


def load_engines(
    settings: Settings, *, progress: ProgressFactory | None = None, conversation: bool = False
) -> Engines:
    """Load every engine once: the bundle the app shares across sessions.

    Partials use ``asr_model``, finals and batch ``asr_final_model`` (loaded once when both
    settings name the same model). ``conversation`` (the server, not batch workers or
    benches) also loads the embedded language model when :func:`wants_embedded_llm`.

    Raises:
        ModelNotFound: a model is unusable (one-line message).
    """
    asr = load_asr(settings, progress=progress)
    return Engines(
        vad=load_vad(settings),
        asr=asr,
        tts=load_tts(settings),
        embedder=load_embedder(settings),
        tagger=load_tagger(settings),
        llm=load_llm(settings, progress) if conversation and wants_embedded_llm(settings) else None,
    )
