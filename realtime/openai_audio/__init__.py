"""OpenAI's audio REST endpoints.

``/v1/audio/transcriptions`` (:mod:`~realtime.openai_audio.transcriptions`, streamed as
server-sent events with ``stream=true``), ``/v1/audio/translations``
(:mod:`~realtime.openai_audio.translations`) and ``/v1/audio/speech``
(:mod:`~realtime.openai_audio.speech`, streamed as it is rendered).
"""

from aiohttp import web

from realtime.openai_audio.speech import create_speech
from realtime.openai_audio.transcriptions import create_transcription
from realtime.openai_audio.translations import create_translation


def setup(app: web.Application) -> None:
    """Register the ``/v1/audio/*`` routes."""
    app.router.add_post("/v1/audio/transcriptions", create_transcription)
    app.router.add_post("/v1/audio/translations", create_translation)
    app.router.add_post("/v1/audio/speech", create_speech)
