"""Build engines from settings: resolve each model (name or path), then load it once.

Every loader raises :class:`engines.errors.ModelNotFound` with a one-line message when its
model is unusable; callers turn that into a clean exit or a startup failure.
"""

from __future__ import annotations

from engines.asr.faster_whisper import FasterWhisperASR
from engines.base import Engines, TTSEngine
from engines.models import Kind, ProgressFactory, no_progress, resolve
from realtime.settings import Settings


def load_asr(
    settings: Settings, *, final: bool, progress: ProgressFactory | None = None
) -> FasterWhisperASR:
    """Load the partial-transcript model (``final=False``) or the final/batch model."""
    setting = settings.asr_final_model if final else settings.asr_model
    path = resolve(setting, Kind.WHISPER, settings.model_cache_dir, progress or no_progress)
    return FasterWhisperASR(
        path,
        name=setting if "/" not in setting else path.name,
        device=settings.asr_device,
        compute_type=settings.asr_compute_type,
        cpu_threads=settings.asr_threads,
        # one CTranslate2 worker per scheduler thread: two sessions' decodes of one model
        # run at once instead of queueing inside it (bench/RESULTS.md: at 8 sessions the
        # final p95 went from 2.9 s to 0.8 s)
        num_workers=settings.inference_workers,
    )


def load_tts(settings: Settings) -> TTSEngine:
    """Load the configured speech engine and voice."""
    if settings.tts_engine == "hibari":
        from engines.tts.hibari import HibariTTS

        return HibariTTS(resolve(settings.tts_model, Kind.HIBARI, settings.model_cache_dir))
    from engines.tts.piper import PiperTTS

    return PiperTTS(resolve(settings.tts_model, Kind.PIPER, settings.model_cache_dir))


def check_models(settings: Settings, *, progress: ProgressFactory | None = None) -> None:
    """Resolve every configured model (preparing cache copies), without loading any.

    Raises:
        ModelNotFound: the first unusable model, with its one-line fix.
    """
    cache = settings.model_cache_dir
    tts_kind = Kind.HIBARI if settings.tts_engine == "hibari" else Kind.PIPER
    for value, kind in (
        (settings.asr_model, Kind.WHISPER),
        (settings.asr_final_model, Kind.WHISPER),
        (settings.vad_model, Kind.VAD),
        (settings.tts_model, tts_kind),
        (settings.tagger_model, Kind.YAMNET),
        (settings.embedder_model, Kind.DVECTOR),
    ):
        resolve(value, kind, cache, progress or no_progress)


def load_engines(settings: Settings, *, progress: ProgressFactory | None = None) -> Engines:
    """Load every engine once: the bundle the app shares across sessions.

    Partials use ``asr_model``, finals and batch ``asr_final_model`` (loaded once when both
    settings name the same model).

    Raises:
        ModelNotFound: a model is unusable (one-line message).
    """
    from engines.asr.incremental import StreamingWhisper
    from engines.diarization.dvector import DVectorEmbedder
    from engines.tagging.yamnet import YamnetTagger
    from engines.vad.silero import SileroVAD

    final = load_asr(settings, final=True, progress=progress)
    partial = (
        final if settings.asr_model == settings.asr_final_model else load_asr(settings, final=False)
    )
    cache = settings.model_cache_dir
    return Engines(
        vad=SileroVAD.load(settings.vad_model, cache),
        asr=StreamingWhisper(partial, final),
        tts=load_tts(settings),
        embedder=DVectorEmbedder.load(settings.embedder_model, cache),
        tagger=YamnetTagger.load(settings.tagger_model, cache),
    )
