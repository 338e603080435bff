"""Batch transcription: the Fluxions REST API on a durable job queue.

Modules:

* :mod:`~realtime.batch.pipeline` — decode → VAD chunks → ASR → assembled text and segments
  (shared with ``voxgate transcribe``); its pure steps are :mod:`~realtime.batch.chunking`
  (VAD ranges → Whisper decodes), :mod:`~realtime.batch.assembly` (segments, words,
  speakers) and :mod:`~realtime.batch.render` (the ``text`` and ``segments`` fields).
* :mod:`~realtime.batch.store` — the :class:`~realtime.batch.store.JobStore` protocol, with
  :mod:`~realtime.batch.store_sqlite` (embedded default) and
  :mod:`~realtime.batch.store_postgres` (several hosts share one queue);
  :mod:`~realtime.batch.backends` opens the one the settings name.
* :mod:`~realtime.batch.worker` — claims jobs, runs the pipeline on the inference pool, keeps
  its lease alive with heartbeats.
* :mod:`~realtime.batch.files` — stored audio and HMAC-signed expiring URLs.
* :mod:`~realtime.batch.api` — the aiohttp routes (``/submit``, ``/transcriptions``…), with
  :mod:`~realtime.batch.request_parsing` (query parameters, uploads),
  :mod:`~realtime.batch.responses` (JSON bodies, signed links) and
  :mod:`~realtime.batch.app_keys` (the app state they share).
"""
