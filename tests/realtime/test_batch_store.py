"""The job store contract, one suite run on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from realtime.batch.store import JobResult, JobStatus, NewJob
from realtime.batch.store_postgres import PostgresJobStore
from realtime.batch.store_sqlite import SQLiteJobStore
from tests.realtime.batch_support import PG_URL, postgres_schema

LEASE = 10.0


@pytest.fixture(params=["sqlite", "postgres"])
def reopen(request, tmp_path):
    """A factory opening the store (call it again: a second handle on the same database)."""
    opened = []
    if request.param == "sqlite":

        def factory():
            opened.append(SQLiteJobStore(tmp_path / "voxgate.db"))
            return opened[-1]

        yield factory
    else:
        with postgres_schema() as schema:

            def factory():
                opened.append(PostgresJobStore(PG_URL, schema=schema))
                return opened[-1]

            yield factory
            for store in opened:
                store.close()


@pytest.fixture
def store(reopen):
    return reopen()


def new_job(owner="k1", sha="a" * 64, non_speech=False, options="opts") -> NewJob:
    return NewJob(owner, "talk.mp3", sha, sha, 1234, non_speech, options)


def result(text="SPEAKER_0: hello") -> JobResult:
    return JobResult(
        audio_duration=12.5,
        audio_format="mp3",
        processing_time=1.25,
        language="en",
        num_speakers=1,
        num_segments=1,
        num_chunks=1,
        text=text,
        segments=[{"speaker": "0", "text": "hello", "start": 0.1, "end": 0.9, "segment_idx": 0}],
    )


def test_submit_get_and_owner_scoping(store):
    a = store.submit(new_job(), now=100.0)
    b = store.submit(new_job(owner="k2"), now=101.0)
    assert isinstance(a.id, int) and b.id > a.id
    assert (a.status, a.filename, a.created_at, a.attempts, a.cached) == (
        JobStatus.SUBMITTED,
        "talk.mp3",
        100.0,
        0,
        False,
    )
    assert store.get(a.id, owner="k1") == a
    assert store.get(a.id, owner="k2") is None  # another key's job does not exist for it
    assert store.get(a.id, owner=None) == a
    assert store.get(10**9, owner=None) is None


def test_list_is_newest_first_paged_and_scoped(store):
    ids = [store.submit(new_job(), now=float(i)).id for i in range(7)]
    store.submit(new_job(owner="other"), now=50.0)
    total, page = store.list("k1", limit=3, offset=0)
    assert total == 7 and [j.id for j in page] == ids[::-1][:3]
    total, page = store.list("k1", limit=3, offset=6)
    assert [j.id for j in page] == [ids[0]]
    assert all(j.detail is None for j in page)
    for limit, offset in [(0, 0), (101, 0), (5, -1)]:
        with pytest.raises(ValueError):
            store.list("k1", limit=limit, offset=offset)


def test_claim_is_fifo_and_counts_attempts(store):
    first = store.submit(new_job(), now=1.0)
    second = store.submit(new_job(owner="k2"), now=2.0)
    claimed = store.claim("w1", now=10.0, lease_s=LEASE, max_attempts=3)
    assert claimed.id == first.id
    assert (claimed.status, claimed.attempts, claimed.lease_owner) == (
        JobStatus.PROCESSING,
        1,
        "w1",
    )
    assert claimed.lease_until == 10.0 + LEASE
    assert store.claim("w2", now=10.0, lease_s=LEASE, max_attempts=3).id == second.id
    assert store.claim("w3", now=10.0, lease_s=LEASE, max_attempts=3) is None


def test_heartbeat_extends_the_lease_and_records_progress(store):
    job = store.submit(new_job(), now=0.0)
    store.claim("w1", now=0.0, lease_s=LEASE, max_attempts=3)
    assert store.heartbeat(job.id, "w1", now=8.0, lease_s=LEASE, progress=0.4)
    seen = store.get(job.id, owner=None)
    assert (seen.progress, seen.lease_until) == (0.4, 18.0)
    assert not store.heartbeat(job.id, "intruder", now=8.0, lease_s=LEASE, progress=0.9)
    # the renewed lease holds past the first one's expiry
    assert store.claim("w2", now=15.0, lease_s=LEASE, max_attempts=3) is None


def test_complete_stores_the_result(store):
    job = store.submit(new_job(), now=0.0)
    store.claim("w1", now=1.0, lease_s=LEASE, max_attempts=3)
    assert not store.complete(job.id, "w2", result(), now=2.0)
    assert store.complete(job.id, "w1", result(), now=3.0)
    done = store.get(job.id, owner="k1")
    assert done.status is JobStatus.COMPLETED and done.progress == 1.0
    assert (done.audio_duration, done.audio_format, done.processing_time, done.language) == (
        12.5,
        "mp3",
        1.25,
        "en",
    )
    assert (done.num_speakers, done.num_segments, done.updated_at) == (1, 1, 3.0)
    assert done.detail["text"] == "SPEAKER_0: hello" and done.detail["num_chunks"] == 1
    assert done.detail["segments"][0]["segment_idx"] == 0
    # a finished job is no longer held by anyone
    assert not store.heartbeat(job.id, "w1", now=4.0, lease_s=LEASE, progress=1.0)
    assert not store.fail(job.id, "w1", "late", now=4.0)


def test_fail_records_the_message(store):
    job = store.submit(new_job(), now=0.0)
    store.claim("w1", now=0.0, lease_s=LEASE, max_attempts=3)
    assert store.fail(job.id, "w1", "talk.mp3: not decodable audio", now=1.0)
    failed = store.get(job.id, owner="k1")
    assert failed.status is JobStatus.FAILED
    assert failed.error_message == "talk.mp3: not decodable audio"


def test_an_expired_lease_is_retried_and_the_old_worker_is_fenced_off(store):
    job = store.submit(new_job(), now=0.0)
    store.claim("dead", now=0.0, lease_s=LEASE, max_attempts=3)
    assert store.claim("w2", now=LEASE - 1, lease_s=LEASE, max_attempts=3) is None
    again = store.claim("w2", now=LEASE + 1, lease_s=LEASE, max_attempts=3)
    assert (again.id, again.attempts, again.lease_owner) == (job.id, 2, "w2")
    assert not store.complete(job.id, "dead", result("stale"), now=LEASE + 2)
    assert store.complete(job.id, "w2", result(), now=LEASE + 3)
    assert store.get(job.id, owner=None).detail["text"] == "SPEAKER_0: hello"


def test_attempts_are_bounded(store):
    job = store.submit(new_job(), now=0.0)
    t = 0.0
    for attempt in (1, 2):
        claimed = store.claim(f"w{attempt}", now=t, lease_s=LEASE, max_attempts=2)
        assert claimed.attempts == attempt
        t += LEASE + 1
    assert store.claim("w3", now=t, lease_s=LEASE, max_attempts=2) is None
    failed = store.get(job.id, owner=None)
    assert failed.status is JobStatus.FAILED
    assert "interrupted 2 times" in failed.error_message


def test_release_returns_the_job_without_spending_an_attempt(store):
    job = store.submit(new_job(), now=0.0)
    store.claim("w1", now=0.0, lease_s=LEASE, max_attempts=1)
    assert store.release(job.id, "w1", now=1.0)
    back = store.get(job.id, owner=None)
    assert (back.status, back.attempts, back.lease_owner) == (JobStatus.SUBMITTED, 0, None)
    assert store.claim("w2", now=2.0, lease_s=LEASE, max_attempts=1).id == job.id


def test_cache_finds_only_completed_identical_jobs_of_the_same_key(store):
    job = store.submit(new_job(), now=0.0)
    assert store.find_cached("k1", "a" * 64, "opts") is None  # not completed yet
    store.claim("w1", now=0.0, lease_s=LEASE, max_attempts=3)
    store.complete(job.id, "w1", result(), now=1.0)
    source = store.find_cached("k1", "a" * 64, "opts")
    assert source.id == job.id
    assert store.find_cached("k2", "a" * 64, "opts") is None
    assert store.find_cached("k1", "b" * 64, "opts") is None
    assert store.find_cached("k1", "a" * 64, "non_speech") is None
    hit = store.submit_cached(new_job(), source, now=5.0)
    assert hit.id > job.id
    assert (hit.status, hit.cached, hit.progress, hit.attempts) == (
        JobStatus.COMPLETED,
        True,
        1.0,
        0,
    )
    assert hit.detail == store.get(job.id, owner=None).detail
    assert (hit.audio_duration, hit.processing_time, hit.created_at) == (12.5, 1.25, 5.0)
    assert store.claim("w1", now=6.0, lease_s=LEASE, max_attempts=3) is None


def test_concurrent_claimers_never_share_a_job(store, reopen):
    ids = {store.submit(new_job(), now=float(i)).id for i in range(24)}
    claims: list[tuple[str, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(name: str) -> None:
        mine = reopen()  # each worker its own handle, as separate processes would have
        try:
            while (job := mine.claim(name, now=100.0, lease_s=LEASE, max_attempts=3)) is not None:
                with lock:
                    claims.append((name, job.id))
                assert mine.complete(job.id, name, result(), now=101.0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    counts = Counter(job_id for _, job_id in claims)
    assert set(counts) == ids and set(counts.values()) == {1}
    total, jobs = store.list("k1", limit=100, offset=0)
    assert total == 24 and {j.status for j in jobs} == {JobStatus.COMPLETED}


def test_jobs_survive_reopening(store, reopen):
    job = store.submit(new_job(), now=0.0)
    store.close()
    again = reopen()
    assert again.get(job.id, owner="k1").status is JobStatus.SUBMITTED
    assert again.claim("w", now=1.0, lease_s=LEASE, max_attempts=3).id == job.id
