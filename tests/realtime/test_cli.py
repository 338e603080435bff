"""The voxgate command line, run as a user would: a real process, real models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave

import pytest

from engines.audio import decode_file
from testkit.wer import wer

VOXGATE = [sys.executable, "-m", "realtime"]


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*VOXGATE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.model
def test_transcribe_prints_the_sentence(testdata):
    result = run("transcribe", str(testdata / "openai-whisper/jfk.flac"))
    assert result.returncode == 0, result.stderr
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    assert wer(reference, result.stdout) <= 0.05, result.stdout


@pytest.mark.model
def test_transcribe_json_has_segments_and_words(testdata):
    result = run(
        "transcribe",
        "--json",
        "--asr-final-model",
        "tiny.en",
        str(testdata / "whisper.cpp/jfk.mp3"),
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["language"] == "en" and out["duration"] == pytest.approx(11.0, abs=0.2)
    words = [w for s in out["segments"] for w in s["words"]]
    assert len(words) >= 20 and words[0]["word"].lower() == "and"


@pytest.mark.model
def test_transcribe_with_speakers_and_non_speech_tags(testdata):
    result = run(
        "transcribe", "--speakers", "--non-speech", str(testdata / "mfa/mfa_laughter.flac")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("SPEAKER_0: ") and "[laugh]" in result.stdout, result.stdout
    assert "SPEAKER_1" not in result.stdout  # one speaker
    bad = run("transcribe", "--num-speakers", "0", str(testdata / "mfa/mfa_laughter.flac"))
    assert bad.returncode == 2 and "--num-speakers" in bad.stderr


def test_transcribe_undecodable_file_is_one_line(tmp_path):
    junk = tmp_path / "notes.wav"
    junk.write_text("this is not audio")
    result = run("transcribe", "--asr-final-model", "tiny.en", str(junk))
    assert result.returncode == 1
    assert result.stderr.strip().startswith("voxgate: error: notes.wav: not decodable audio")
    assert "Traceback" not in result.stderr


def test_missing_model_is_one_line_naming_the_fix(tmp_path):
    result = run("transcribe", "--asr-final-model", str(tmp_path / "whisper-large"), "x.wav")
    assert result.returncode == 2
    result = run(
        "say", "hello", "-o", str(tmp_path / "x.wav"), "--tts-voice", str(tmp_path / "v.onnx")
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0], result.stderr


@pytest.mark.model
@pytest.mark.parametrize("engine", ["piper", "hibari"])
def test_say_writes_a_playable_wav(tmp_path, engine):
    out = tmp_path / "hello.wav"
    result = run("say", "Hello there.", "-o", str(out), "--tts-engine", engine)
    assert result.returncode == 0, result.stderr
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        assert w.getframerate() == {"piper": 22_050, "hibari": 24_000}[engine]
        assert 0.4 < w.getnframes() / w.getframerate() < 3.0
    decoded = decode_file(out)  # FFmpeg reads it too
    assert decoded.codec == "pcm_s16le" and decoded.samples.std() > 500
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.model
def test_models_reports_every_pack_ready():
    result = run("models", "--check", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(result.stdout)
    assert {r["name"] for r in rows} == {
        "tiny.en",
        "base",
        "silero-vad-v6",
        "piper-joe",
        "hibari-heart",
        "yamnet",
        "dvector",
    }
    assert all(r["state"] == "ready" and r["bytes"] > 1_000_000 for r in rows), rows


@pytest.mark.model
def test_models_rebuilds_a_deleted_join(tmp_path):
    env = {"VOXGATE_MODEL_CACHE_DIR": str(tmp_path)}
    first = run("models", env=env)
    assert first.returncode == 0, first.stderr
    joined = tmp_path / "whisper-base-1.0.0" / "model.bin"
    assert joined.stat().st_size == 145_217_532
    joined.unlink()
    check = run("models", "--check", env=env)
    assert check.returncode == 1 and "needs preparing" in check.stdout
    again = run("models", env=env)
    assert again.returncode == 0 and joined.stat().st_size == 145_217_532


def test_keys_create_list_revoke(tmp_path):
    data = ["--data-dir", str(tmp_path)]
    created = run("keys", "create", "--name", "laptop", *data)
    assert created.returncode == 0
    key = created.stdout.strip()
    key_id = key.split("_")[1]
    listed = run("keys", "list", "--json", *data)
    assert [(k["id"], k["name"], k["revoked_at"]) for k in json.loads(listed.stdout)] == [
        (key_id, "laptop", None)
    ]
    assert key not in listed.stdout
    assert run("keys", "revoke", key_id, *data).returncode == 0
    again = run("keys", "revoke", key_id, *data)
    assert again.returncode == 1 and "no active key" in again.stderr


def test_usage_errors_exit_2():
    assert run().returncode == 2
    assert run("serve", "--port", "nope").returncode == 2
    assert run("--version").stdout.startswith("voxgate ")
