"""The batch API end to end: a live voxgate (real models, real audio) driven by `requests`.

One server per module, with the engines loaded once and one in-process batch worker.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from realtime.auth.keys import KeyStore
from realtime.batch.files import UrlSigner, audio_path, load_secret
from realtime.batch.store_sqlite import SQLiteJobStore
from realtime.inference.loading import load_engines
from realtime.server.app import create_app
from realtime.server.settings import Settings
from testkit.paths import REPO
from testkit.wer import wer
from tests.realtime.batch_support import LiveServer, reference_text, spoken_text, wait_for_job

pytestmark = pytest.mark.model

REFERENCE = REPO.parent / "shared" / "reference" / "fluxions-api.md"


@pytest.fixture(scope="module")
def engines():
    return load_engines(Settings())


@pytest.fixture(scope="module")
def server(engines, tmp_path_factory):
    data = tmp_path_factory.mktemp("voxgate-data")
    settings = Settings(data_dir=data, batch_workers=1)
    app = create_app(settings, engines=engines)
    with LiveServer(app) as live:
        live.settings = settings
        yield live


def new_key(server, name="test") -> str:
    return KeyStore(server.settings.database_path).create(name)[1]


@pytest.fixture(scope="module")
def key(server) -> str:
    return new_key(server, "main")


def submit(server, key, data: bytes, **params) -> dict:
    response = requests.post(
        f"{server.url}/submit", headers={"Authorization": key}, data=data, params=params, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()


def store(server) -> SQLiteJobStore:
    return SQLiteJobStore(server.settings.database_path)


# --- the reference, verbatim --------------------------------------------------------------


def reference_blocks(language: str) -> list[str]:
    if not REFERENCE.is_file():
        pytest.fail(f"Fluxions reference not found at {REFERENCE}")
    return re.findall(rf"```{language}\n(.*?)```", REFERENCE.read_text(), flags=re.DOTALL)


def python_example(marker: str) -> str:
    return next(b for b in reference_blocks("python") if marker in b)


def json_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def assert_shape(reference: dict, ours: dict, where: str) -> None:
    """Every field of the reference example is in ours, with the same JSON type."""
    for name, example in reference.items():
        assert name in ours, f"{where}: missing {name}"
        assert json_type(ours[name]) == json_type(example), (where, name, ours[name])
        if isinstance(example, dict):
            assert_shape(example, ours[name], f"{where}.{name}")
        if isinstance(example, list) and example and isinstance(example[0], dict):
            assert ours[name], f"{where}.{name} is empty"
            for item in ours[name]:
                assert_shape(example[0], item, f"{where}.{name}[]")


def reference_response(marker: str) -> dict:
    return json.loads(next(b for b in reference_blocks("json") if marker in b))


def test_reference_python_examples_run_verbatim(server, key, testdata, tmp_path, monkeypatch):
    (tmp_path / "audio.mp3").write_bytes((testdata / "whisper.cpp/jfk.mp3").read_bytes())
    monkeypatch.chdir(tmp_path)

    def run(code: str, job_id: int | None = None) -> dict:
        code = code.replace("https://api.fluxions.ai", server.url).replace("YOUR_API_KEY", key)
        if job_id is not None:
            code = code.replace("/transcriptions/124", f"/transcriptions/{job_id}")
        namespace: dict = {}
        exec(compile(code, "fluxions-api.md", "exec"), namespace)
        return namespace

    health = run(python_example("/health'"))
    assert health["data"]["status"] == "ok"

    submitted = run(python_example("/submit'"))
    job = submitted["job"]
    assert job["status"] == "submitted" and job["cached"] is False
    assert_shape(reference_response('"query_urls"'), job, "submit")

    get_code = python_example("/transcriptions/124'")
    waited, seen = wait_for_job(server.url, key, submitted["job_id"], timeout=120)
    assert waited["status"] == "completed", seen[-1]
    assert {b["status"] for b in seen} <= {"submitted", "processing", "completed"}
    result = run(get_code, submitted["job_id"])["result"]  # the reference's own GET, verbatim
    assert result["status"] == "completed"
    assert_shape(reference_response('"segments"'), result, "transcription")
    reference = (testdata / "whisper.cpp/jfk.txt").read_text()
    assert result["text"].startswith("SPEAKER_0: ")
    assert wer(reference, spoken_text(result["text"])) <= 0.05, result["text"]
    assert result["audio_format"] == "mp3" and result["num_speakers"] == 1
    assert result["audio_duration"] == pytest.approx(11.0, abs=0.2)

    listed = run(python_example("params={'limit': 10"))["data"]
    assert listed["limit"] == 10 and listed["offset"] == 0
    assert listed["transcriptions"][0]["id"] == submitted["job_id"]
    assert_shape(reference_response('"total"'), listed, "list")


# --- long form: physicsworks, WAV and MP3 ---------------------------------------------------


def to_mp3(path: Path) -> bytes:
    import av

    from engines.audio import decode_file

    pcm = decode_file(path).samples
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=16_000)
        stream.layout = "mono"
        stream.bit_rate = 64_000
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 16_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_physicsworks_completes_with_the_right_text_and_numbers(server, key, testdata, fmt):
    source = testdata / "faster-whisper/physicsworks.wav"
    data = source.read_bytes() if fmt == "wav" else to_mp3(source)
    started = time.monotonic()
    job = submit(server, key, data, filename=f"physicsworks.{fmt}", cache="false")
    result, seen = wait_for_job(server.url, key, job["id"], timeout=400)
    elapsed = time.monotonic() - started
    assert result["status"] == "completed", result.get("error_message")
    assert result["filename"] == f"physicsworks.{fmt}"
    assert result["audio_format"] == ("pcm_s16le" if fmt == "wav" else "mp3")
    assert result["audio_duration"] == pytest.approx(203.28, abs=0.2)
    assert 0 < result["processing_time"] <= elapsed
    assert result["language"] == "en" and result["non_speech"] is False
    assert result["num_chunks"] >= 5  # ≤30 s of speech per chunk
    assert result["num_segments"] == len(result["segments"]) >= 20
    assert result["num_speakers"] == 1 and result["cached"] is False
    reference = reference_text(testdata / "faster-whisper/physicsworks.txt")
    error = wer(reference, spoken_text(result["text"]))
    assert error <= 0.20, (error, result["text"])
    starts = [s["start"] for s in result["segments"]]
    assert starts == sorted(starts) and all(s["end"] > s["start"] for s in result["segments"])
    assert [s["segment_idx"] for s in result["segments"]] == list(range(len(starts)))
    assert result["segments"][-1]["end"] <= result["audio_duration"]
    # progress: reported while processing, never backwards, 1 when done
    progress = [b["progress"] for b in seen]
    assert progress == sorted(progress) and result["progress"] == 1.0
    assert any(b["status"] == "processing" and 0 <= b["progress"] < 1 for b in seen)
    assert all(b["text"] is None for b in seen[:-1])


# --- options, cache, failures -----------------------------------------------------------------


def test_word_level_timestamps(server, key, testdata):
    job = submit(server, key, (testdata / "openai-whisper/jfk.flac").read_bytes())
    plain, _ = wait_for_job(server.url, key, job["id"])
    assert plain["status"] == "completed" and all("words" not in s for s in plain["segments"])
    timed, _ = wait_for_job(server.url, key, job["id"], word_level_timestamps="true")
    words = [w for s in timed["segments"] for w in s["words"]]
    assert [w["word"] for w in words][:4] == ["And", "so", "my", "fellow"]
    for segment in timed["segments"]:
        assert " ".join(w["word"] for w in segment["words"]) == segment["text"]
        for w in segment["words"]:
            assert segment["start"] - 0.05 <= w["start"] <= w["end"] <= segment["end"] + 0.05


def test_cache_answers_identical_files_without_processing(server, testdata):
    key = new_key(server, "cache")
    data = (testdata / "pocketsphinx/sense_and_sensibility_01_austen_64kb-0870.wav").read_bytes()
    first = submit(server, key, data)
    assert (first["status"], first["cached"]) == ("submitted", False)
    original, _ = wait_for_job(server.url, key, first["id"])
    assert original["status"] == "completed"

    hit = submit(server, key, data)  # cache defaults to true
    assert (hit["status"], hit["cached"]) == ("completed", True)
    again, _ = wait_for_job(server.url, key, hit["id"])
    assert again["cached"] is True and again["text"] == original["text"]
    assert again["segments"] == original["segments"]
    assert again["processing_time"] == original["processing_time"]
    assert store(server).get(hit["id"], owner=None).attempts == 0  # never claimed

    # other options, or another key, are not the same request
    other = submit(server, key, data, non_speech="true")
    assert other["cached"] is False
    assert submit(server, new_key(server, "stranger"), data)["cached"] is False

    fresh = submit(server, key, data, cache="false")
    assert (fresh["status"], fresh["cached"]) == ("submitted", False)
    redone, _ = wait_for_job(server.url, key, fresh["id"])
    assert redone["status"] == "completed" and redone["cached"] is False
    assert store(server).get(fresh["id"], owner=None).attempts == 1
    assert redone["text"] == original["text"]
    wait_for_job(server.url, key, other["id"])


def truncated_mp3(testdata) -> bytes:
    data = (testdata / "whisper.cpp/jfk.mp3").read_bytes()
    return data[: len(data) // 3]


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("empty.wav", lambda t: (t / "pyannote/empty.wav").read_bytes(), "no speech"),
        ("cut.mp3", truncated_mp3, "truncated"),
        ("notes.txt", lambda t: b"These are my meeting notes, not audio.\n" * 40, "not decodable"),
    ],
)
def test_bad_audio_fails_the_job_with_a_message(server, key, testdata, name, body, expected):
    job = submit(server, key, body(testdata), filename=name)
    result, _ = wait_for_job(server.url, key, job["id"])
    assert result["status"] == "failed"
    assert expected in result["error_message"] and name in result["error_message"]
    assert result["text"] is None and result["segments"] is None


def test_multipart_upload_as_the_javascript_example_sends(server, key, testdata):
    data = (testdata / "openai-whisper/jfk.flac").read_bytes()
    response = requests.post(
        f"{server.url}/submit",
        headers={"Authorization": key},
        files={"file": ("interview.flac", data, "audio/flac")},
        params={"cache": "false"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    result, _ = wait_for_job(server.url, key, response.json()["id"])
    assert result["status"] == "completed" and result["filename"] == "interview.flac"
    assert result["audio_format"] == "flac"
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    assert wer(reference, spoken_text(result["text"])) <= 0.05, result["text"]


# --- auth, scoping, signed URLs -----------------------------------------------------------------


def test_keys_see_only_their_own_jobs(server, testdata):
    mine, theirs = new_key(server, "mine"), new_key(server, "theirs")
    job = submit(server, mine, (testdata / "deepspeech/LDC93S1.wav").read_bytes())
    for header in (mine, f"Bearer {mine}"):
        response = requests.get(
            f"{server.url}/transcriptions/{job['id']}",
            headers={"Authorization": header},
            timeout=30,
        )
        assert response.status_code == 200
    other = requests.get(
        f"{server.url}/transcriptions/{job['id']}", headers={"Authorization": theirs}, timeout=30
    )
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    listed = requests.get(
        f"{server.url}/transcriptions", headers={"Authorization": theirs}, timeout=30
    ).json()
    assert listed["total"] == 0 and listed["transcriptions"] == []
    denied = requests.get(f"{server.url}/transcriptions/{job['id']}", timeout=30)
    assert denied.status_code == 401 and denied.json()["error"]["type"] == "authentication_error"
    wait_for_job(server.url, mine, job["id"])


def test_audio_urls_are_signed_and_expire(server, key, testdata):
    data = (testdata / "deepspeech/LDC93S1.wav").read_bytes()
    job = submit(server, key, data, filename="take1.wav")
    fetched = requests.get(job["original_audio_url"], timeout=30)  # no key: the URL is the key
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["Content-Type"] == "audio/x-wav"
    result, _ = wait_for_job(server.url, key, job["id"])
    assert requests.get(result["audio_url"], timeout=30).content == data

    tampered = job["original_audio_url"].replace(f"/jobs/{job['id']}/", f"/jobs/{job['id'] - 1}/")
    assert requests.get(tampered, timeout=30).status_code == 403
    signer = UrlSigner(load_secret(server.settings.data_dir))
    expired = signer.sign(server.url, audio_path(job["id"]), now=time.time() - 7200, ttl_s=3600)
    response = requests.get(expired, timeout=30)
    assert response.status_code == 403 and response.json()["error"]["code"] == "invalid_signature"


# --- the CLI and /submit agree -----------------------------------------------------------------


def test_non_speech_tags_go_inline_in_text_and_never_in_segments(server, key, testdata):
    data = (testdata / "mfa/mfa_laughter.flac").read_bytes()
    tagged, _ = wait_for_job(server.url, key, submit(server, key, data, non_speech="true")["id"])
    plain, _ = wait_for_job(server.url, key, submit(server, key, data)["id"])
    assert tagged["status"] == plain["status"] == "completed"
    assert tagged["non_speech"] is True and plain["non_speech"] is False
    assert tagged["text"].startswith("SPEAKER_0: ") and "[laugh]" in tagged["text"], tagged["text"]
    assert all("[" not in s["text"] for s in tagged["segments"]), tagged["segments"]
    assert "[" not in plain["text"] and "*" not in plain["text"], plain["text"]
    for word in ("forced", "liner"):
        assert word in tagged["text"].lower() and word in plain["text"].lower()


def test_two_speakers_of_the_sample_call_get_their_own_lines(server, key, testdata):
    data = (testdata / "pyannote/sample.wav").read_bytes()
    result, _ = wait_for_job(server.url, key, submit(server, key, data)["id"])
    assert result["status"] == "completed" and result["num_speakers"] == 2, result["text"]
    lines = result["text"].split("\n")
    assert lines[0].startswith("SPEAKER_0: ") and any(x.startswith("SPEAKER_1: ") for x in lines)
    speakers = [s["speaker"] for s in result["segments"]]
    assert speakers[0] == "0" and set(speakers) == {"0", "1"}
    sheila = next(s for s in result["segments"] if "Sheila" in s["text"])
    dianne = next(s for s in result["segments"] if "New Jersey" in s["text"])
    assert sheila["speaker"] != dianne["speaker"]  # who said what, as the reference has it


def test_voxgate_transcribe_and_submit_give_the_same_text(server, key, testdata):
    import subprocess
    import sys

    path = testdata / "asterisk/demo-congrats.wav"
    cli = subprocess.run(
        [sys.executable, "-m", "realtime", "transcribe", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    job = submit(server, key, path.read_bytes(), cache="false")
    result, _ = wait_for_job(server.url, key, job["id"])
    assert result["status"] == "completed"
    assert spoken_text(result["text"]) == cli.stdout.strip()
    assert " ".join(s["text"] for s in result["segments"]) == cli.stdout.strip()


# --- OpenAI-compatible extras --------------------------------------------------------------------


@pytest.fixture(scope="module")
def openai_client(server, key):
    from openai import OpenAI

    return OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)


def test_openai_sdk_transcription(openai_client, testdata):
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    with (testdata / "openai-whisper/jfk.flac").open("rb") as f:
        result = openai_client.audio.transcriptions.create(file=f, model="whisper-1")
    assert wer(reference, result.text) <= 0.05, result.text
    with (testdata / "openai-whisper/jfk.flac").open("rb") as f:
        verbose = openai_client.audio.transcriptions.create(
            file=f,
            model="whisper-1",
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert verbose.duration == pytest.approx(11.0, abs=0.1) and verbose.language == "english"
    assert verbose.words[0].word == "And" and verbose.segments
    with (testdata / "openai-whisper/jfk.flac").open("rb") as f:
        srt = openai_client.audio.transcriptions.create(
            file=f, model="whisper-1", response_format="srt"
        )
    assert srt.startswith("1\n00:00:0") and "-->" in srt


def test_openai_sdk_streams_speech_as_it_is_made(openai_client, engines):
    # with_streaming_response: chunked bytes as Piper renders each sentence (that they
    # arrive before the end is tests/realtime/test_openai_speech.py's); joined, they decode
    # to what was said
    from engines.audio import decode_file
    from realtime.batch.pipeline import transcribe_audio

    text = "The quick brown fox jumps over the lazy dog. It was a sunny day."
    with openai_client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input=text
    ) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        assert response.headers["transfer-encoding"] == "chunked"
        pieces = list(response.iter_bytes())
    audio = decode_file(b"".join(pieces))
    assert audio.codec == "mp3"
    heard = transcribe_audio(audio, engines.vad, engines.asr).plain_text
    assert wer(text, heard) <= 0.15, heard


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_openai_sdk_speech_is_heard_back(openai_client, engines, fmt):
    from engines.audio import decode_file
    from realtime.batch.pipeline import transcribe_audio

    # Piper's voice draws fresh noise on every call, so one 9-word sentence sometimes came
    # back with a misheard pair ("quip round fox": WER 0.22); 14 words over two sentences
    # leave room for one such slip under the same bar.
    text = "The quick brown fox jumps over the lazy dog. It was a sunny day."
    response = openai_client.audio.speech.create(
        model="tts-1", voice="alloy", input=text, response_format=fmt
    )
    audio = decode_file(response.content)
    assert audio.codec == ("pcm_s16le" if fmt == "wav" else "mp3")
    assert np.abs(audio.samples).max() > 1000
    heard = transcribe_audio(audio, engines.vad, engines.asr).plain_text
    assert wer(text, heard) <= 0.15, heard
