"""``POST /v1/audio/translations``, as OpenAI's: speech in any language, text in English.

The ``openai`` SDK's ``audio.translations.create`` works with only ``base_url`` changed.
Form fields: ``file``, ``model`` (accepted and ignored), ``prompt`` (in English, as
OpenAI's), ``response_format`` (``json``, ``text``, ``srt``, ``vtt``, ``verbose_json``:
``task: "translate"``, ``language: "english"``) and ``temperature`` (0–1, accepted and
ignored). The batch pipeline runs with Whisper's ``translate`` task on the configured
final model; English speech comes back transcribed.

Contract: translation needs a multilingual final model. When it is English-only (a
``.en`` model) or the ASR engine cannot translate, the answer is a 400
``translation_unavailable`` that names the setting to change, never an English-only
transcript passed off as a translation (the model cannot tell what language it hears).
"""

from __future__ import annotations

import asyncio
from functools import partial

from aiohttp import web

from realtime.batch.files import Upload
from realtime.batch.pipeline import PipelineOptions
from realtime.openai_audio.forms import AudioForm, FormError, serve_form
from realtime.openai_audio.renderings import TRANSLATION_FORMATS, Rendering, render
from realtime.openai_audio.runs import PipelineRun, error_response
from realtime.server.app_keys import ENGINES, SETTINGS


def check_translates(request: web.Request) -> None:
    """Refuse when the ASR engine cannot translate.

    Raises:
        FormError: ``translation_unavailable``, naming the fix.
    """
    asr = request.app[ENGINES].asr
    if not getattr(asr, "translates", False):
        raise FormError(
            f"the configured final ASR model ({asr.info.model}) cannot translate: it is "
            "English-only; set VOXGATE_ASR_FINAL_MODEL (--asr-final-model) to a "
            "multilingual Whisper model such as 'base'",
            code="translation_unavailable",
        )


async def create_translation(request: web.Request) -> web.StreamResponse:
    """``POST /v1/audio/translations`` (OpenAI shape)."""
    return await serve_form(request, partial(_translate, request))


async def _translate(request: web.Request, form: AudioForm, upload: Upload) -> web.StreamResponse:
    fmt = form.choice("response_format", TRANSLATION_FORMATS, "json")
    form.temperature()
    check_translates(request)
    settings = request.app[SETTINGS]
    options = PipelineOptions(
        diarize=False,
        prompt=form.first("prompt"),
        translate=True,
        word_timestamps=False,
        beam_size=settings.asr_beam_size,
        max_audio_s=settings.max_audio_seconds,
    )
    path = await asyncio.to_thread(upload.keep_temporary)
    run = PipelineRun(request, path, options)
    run.start()
    try:
        finished = await run.result()
    except Exception as exc:
        answer = error_response(exc)
        if answer is None:
            raise
        return answer
    finally:
        run.stop()
    return render(finished.transcript, Rendering(fmt, task="translate"))
