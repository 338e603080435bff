"""Running the engines.

:mod:`~realtime.inference.loading` loads them once per process; every blocking inference
call runs on the process-wide :class:`~realtime.inference.scheduler.InferenceScheduler`;
:mod:`~realtime.inference.annotation` is the per-utterance listening step of realtime
sessions.
"""
