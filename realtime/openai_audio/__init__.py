"""OpenAI's audio REST endpoints.

``/v1/audio/transcriptions`` (:mod:`~realtime.openai_audio.transcriptions`) and
``/v1/audio/speech`` (:mod:`~realtime.openai_audio.speech`, streamed as it is rendered).
"""
