"""A small load test: concurrent realtime sessions, then a burst of batch jobs, one server.

The load drivers are ``testkit/loadgen.py``'s, which ``bench/load.py`` runs at full size
(50 sessions × 2 rounds, 200 submits). Here: the default engines, voxgate on a loopback port
in this process, ten sessions of the official ``openai`` SDK at once, each streaming one
real clip of 2.8–5.3 s at real-time pace (100 ms chunks) with server VAD, then thirty
``POST /submit`` at once. Every session and job must end without an error and with a
plausible transcript, and the tasks and threads that the load started must end with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SESSIONS = 10
SUBMITS = 30
SETTLE_S = 240  # longest wait for a session's finals after its audio (a bound, not a target)
BATCH_WITHIN_S = 480  # longest wait for the whole burst
SESSION_WER = 0.5  # loose, per transcript: one of another clip, or garbage, is near 1
POOLED_WER = 0.25  # all sessions (or all jobs) pooled: about 0.15 for Whisper base here

pytestmark = [pytest.mark.model, pytest.mark.timeout(900)]


async def test_concurrent_sessions_and_a_submit_burst_leave_nothing_behind(testdata: Path):
    from realtime.inference.loading import load_engines
    from realtime.server.settings import Settings
    from testkit import loadgen
    from testkit.wer import wer

    await loadgen.fill_default_executor()  # its lazily started threads would look like leaks
    engines = load_engines(Settings())
    clips = loadgen.load_clips(testdata, loadgen.SHORT_CLIPS)
    scripts = loadgen.build_scripts(clips, 4.0)
    assert all(len(s.names) == 1 for s in scripts)  # one clip per session
    async with loadgen.serve(engines, max_sessions_per_key=SESSIONS) as server:
        before_warmup = loadgen.Baseline()
        warm_rt = await loadgen.realtime_load(server, scripts[:1], 1)
        warm_batch = await loadgen.batch_burst(server, clips[:1], 1, within_s=BATCH_WITHIN_S)
        assert warm_rt.errors + warm_batch.errors == []
        assert (await before_warmup.settle_tasks())[1] == []  # the warm-up's tasks ended
        baseline = loadgen.Baseline()

        realtime = await loadgen.realtime_load(server, scripts, SESSIONS, settle_s=SETTLE_S)
        after_realtime, left_realtime = await baseline.settle()

        batch = await loadgen.batch_burst(server, clips, SUBMITS, within_s=BATCH_WITHIN_S)
        after_batch, left_batch = await baseline.settle()

    assert realtime.errors == []
    assert len(realtime.outcomes) == SESSIONS
    for outcome in realtime.outcomes:
        assert outcome.connect_s is not None
        assert outcome.finals_s, outcome.script.names  # at least one turn, and it completed
        assert wer(outcome.script.reference, outcome.text) <= SESSION_WER, (
            outcome.script.names,
            outcome.text,
        )
    assert loadgen.corpus_wer(loadgen.realtime_pairs(realtime)) <= POOLED_WER

    assert batch.errors == []
    assert len(batch.completed_s) == SUBMITS
    for job in batch.jobs:
        assert wer(job.clip.reference, job.text) <= SESSION_WER, (job.clip.name, job.text)
    assert loadgen.corpus_wer(loadgen.batch_pairs(batch)) <= POOLED_WER

    base = baseline.counts
    for after, left in ((after_realtime, left_realtime), (after_batch, left_batch)):
        assert left == []  # every task and Python thread the load started has ended
        assert after.tasks <= base.tasks
        assert after.threads <= base.threads
        assert after.os_threads <= base.os_threads
