"""Typed keys of the batch API's application state, shared by its route modules."""

from __future__ import annotations

from aiohttp import web

from realtime.batch.files import AudioStorage, UrlSigner
from realtime.batch.store import JobStore
from realtime.batch.watch import JobWatch
from realtime.batch.worker import BatchWorkers

JOB_STORE = web.AppKey("job_store", JobStore)
AUDIO_STORAGE = web.AppKey("audio_storage", AudioStorage)
URL_SIGNER = web.AppKey("url_signer", UrlSigner)
BATCH_WORKERS = web.AppKey("batch_workers", BatchWorkers)
JOB_WATCH = web.AppKey("job_watch", JobWatch)
