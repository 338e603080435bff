"""``/v1/audio/*`` driven by the official ``openai`` SDK, with real models on real audio.

Streamed transcriptions, log-probabilities, ``diarized_json`` (with known speakers),
translations, and WAV speech whose header tells its true length. One live server per
module, with the engines loaded once.
"""

from __future__ import annotations

import base64
import io
import wave

import pytest

from engines.audio import decode_file
from engines.audio_files import encode_file
from engines.base import SAMPLE_RATE, Engines
from realtime.auth.keys import KeyStore
from realtime.inference.loading import load_engines
from realtime.server.app import create_app
from realtime.server.settings import Settings
from testkit.wer import wer
from tests.realtime.batch_support import LiveServer

pytestmark = pytest.mark.model

JFK = "openai-whisper/jfk.flac"
TWO_SPEAKERS = "pyannote/sample.wav"  # Diane and Sheila on the phone (sample.rttm)
DIANE_TURN, SHEILA_TURN = (10.6, 14.4), (21.9, 28.4)  # single-speaker turns of sample.rttm


@pytest.fixture(scope="module")
def engines():
    return load_engines(Settings())


def serve(engines: Engines, tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("voxgate-data"), batch_workers=0)
    live = LiveServer(create_app(settings, engines=engines))
    live.key = lambda: KeyStore(settings.database_path).create("test")[1]
    return live


def sdk(live: LiveServer):
    from openai import OpenAI

    return OpenAI(base_url=f"{live.url}/v1", api_key=live.key(), max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def client(engines, tmp_path_factory):
    with serve(engines, tmp_path_factory) as live:
        yield sdk(live)


def transcribe(client, testdata, clip: str, **params):
    with (testdata / clip).open("rb") as f:
        return client.audio.transcriptions.create(file=f, **params)


# --- streaming and log-probabilities ---------------------------------------------------------


def test_streamed_deltas_join_to_the_done_text(client, testdata):
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    stream = transcribe(
        client, testdata, JFK, model="gpt-4o-transcribe", stream=True, include=["logprobs"]
    )
    events = list(stream)
    *deltas, done = events
    assert deltas and {e.type for e in deltas} == {"transcript.text.delta"}
    assert done.type == "transcript.text.done"
    assert "".join(e.delta for e in deltas) == done.text
    assert wer(reference, done.text) <= 0.05, done.text
    assert "ask not what your country can do for you" in done.text.lower()
    assert done.logprobs and "".join(t.token for t in done.logprobs).strip() == done.text


def test_json_carries_the_tokens_logprobs(client, testdata):
    result = transcribe(client, testdata, JFK, model="gpt-4o-transcribe", include=["logprobs"])
    assert result.logprobs, "include=['logprobs'] gave no log-probabilities"
    assert "".join(t.token for t in result.logprobs).strip() == result.text
    assert all(t.logprob <= 0.0 for t in result.logprobs)
    assert all(bytes(int(b) for b in t.bytes).decode() == t.token for t in result.logprobs)
    confident = sum(t.logprob > -0.5 for t in result.logprobs)  # clear speech: mostly sure
    assert confident >= 0.8 * len(result.logprobs)
    assert result.usage.type == "duration" and result.usage.seconds == pytest.approx(11.0, 0.01)


# --- diarized_json ----------------------------------------------------------------------------


def segment_saying(segments, words: str):
    found = [s for s in segments if words in s.text.lower()]
    assert found, f"no segment says {words!r}: {[s.text for s in segments]}"
    return found[0]


def test_diarized_json_labels_the_two_speakers(client, testdata):
    result = transcribe(
        client,
        testdata,
        TWO_SPEAKERS,
        model="gpt-4o-transcribe-diarize",
        response_format="diarized_json",
        chunking_strategy="auto",
    )
    assert type(result).__name__ == "TranscriptionDiarized"
    assert result.task == "transcribe" and result.duration == pytest.approx(30.0, abs=0.1)
    speakers = [s.speaker for s in result.segments]
    assert len(set(speakers)) >= 2 and speakers[0] == "A"
    assert set(speakers) <= {"A", "B", "C", "D"}
    for s in result.segments:
        assert s.type == "transcript.text.segment" and s.id and s.text
        assert 0.0 <= s.start < s.end <= 30.1
    assert result.text == " ".join(s.text for s in result.segments)
    diane = segment_saying(result.segments, "diane in new jersey")
    sheila = segment_saying(result.segments, "sheila")
    assert diane.speaker != sheila.speaker


def data_url(testdata, clip: str, span: tuple[float, float]) -> str:
    samples = decode_file(testdata / clip).samples
    piece = samples[round(span[0] * SAMPLE_RATE) : round(span[1] * SAMPLE_RATE)]
    wav = encode_file(piece, SAMPLE_RATE, "wav")
    return "data:audio/wav;base64," + base64.b64encode(wav).decode("ascii")


def test_known_speaker_names_follow_their_voices(client, testdata):
    result = transcribe(
        client,
        testdata,
        TWO_SPEAKERS,
        model="gpt-4o-transcribe-diarize",
        response_format="diarized_json",
        known_speaker_names=["sheila", "diane"],
        known_speaker_references=[
            data_url(testdata, TWO_SPEAKERS, SHEILA_TURN),
            data_url(testdata, TWO_SPEAKERS, DIANE_TURN),
        ],
    )
    assert segment_saying(result.segments, "diane in new jersey").speaker == "diane"
    assert segment_saying(result.segments, "sheila").speaker == "sheila"
    assert {s.speaker for s in result.segments} == {"diane", "sheila"}


@pytest.mark.parametrize(
    ("reference", "words"),
    [("https://example.com/diane.wav", "data: URL"), ((10.6, 11.6), "must last 2 to 10 s")],
)
def test_bad_references_are_400_before_any_transcription(client, testdata, reference, words):
    import openai

    if isinstance(reference, tuple):
        reference = data_url(testdata, TWO_SPEAKERS, reference)
    with pytest.raises(openai.BadRequestError) as caught:
        transcribe(
            client,
            testdata,
            TWO_SPEAKERS,
            model="gpt-4o-transcribe-diarize",
            response_format="diarized_json",
            known_speaker_names=["diane"],
            known_speaker_references=[reference],
        )
    assert caught.value.param == "known_speaker_references[]"
    assert words in caught.value.message


def test_diarized_stream_sends_segment_events(client, testdata):
    events = list(
        transcribe(
            client,
            testdata,
            TWO_SPEAKERS,
            model="gpt-4o-transcribe-diarize",
            response_format="diarized_json",
            stream=True,
        )
    )
    deltas = [e for e in events if e.type == "transcript.text.delta"]
    segments = [e for e in events if e.type == "transcript.text.segment"]
    assert events[-1].type == "transcript.text.done"
    assert len({s.speaker for s in segments}) >= 2
    assert [d.segment_id for d in deltas] == [s.id for s in segments]
    assert "".join(d.delta for d in deltas) == events[-1].text


# --- translations -----------------------------------------------------------------------------


TRANSLATIONS_DEPRECATED = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
"""The SDK marks ``audio.translations.create`` deprecated (as OpenAI's endpoint is)."""


@TRANSLATIONS_DEPRECATED
def test_translation_runs_whispers_translate_task(client, engines, testdata, monkeypatch):
    model = engines.asr.final_model.model
    tasks: list[str] = []
    transcribe_for_real = model.transcribe

    def spy(*args, **kwargs):
        tasks.append(kwargs.get("task", "transcribe"))
        return transcribe_for_real(*args, **kwargs)

    monkeypatch.setattr(model, "transcribe", spy)
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    with (testdata / JFK).open("rb") as f:
        result = client.audio.translations.create(file=f, model="whisper-1")
    assert tasks and set(tasks) == {"translate"}
    assert wer(reference, result.text) <= 0.10, result.text  # English stays English
    with (testdata / JFK).open("rb") as f:
        verbose = client.audio.translations.create(
            file=f, model="whisper-1", response_format="verbose_json"
        )
    assert verbose.language == "english" and verbose.segments
    assert verbose.duration == pytest.approx(11.0, abs=0.1)


@TRANSLATIONS_DEPRECATED
def test_translation_with_an_english_only_model_names_the_fix(
    engines, asr_tiny, testdata, tmp_path_factory
):
    import openai

    from engines.asr.incremental import StreamingWhisper

    english_only = Engines(vad=engines.vad, asr=StreamingWhisper(asr_tiny))
    with (
        serve(english_only, tmp_path_factory) as live,
        (testdata / JFK).open("rb") as f,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        sdk(live).audio.translations.create(file=f, model="whisper-1")
    assert caught.value.code == "translation_unavailable"
    assert "VOXGATE_ASR_FINAL_MODEL" in caught.value.message


# --- speech -----------------------------------------------------------------------------------


def test_wav_speech_header_tells_the_true_length(client):
    response = client.audio.speech.create(
        model="tts-1",
        voice="alloy",
        input="The quick brown fox jumps over the lazy dog. It was a sunny day.",
        response_format="wav",
    )
    data = response.read()
    with wave.open(io.BytesIO(data)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
    assert seconds == (len(data) - 44) / 2 / 24_000
    assert seconds == pytest.approx(decode_file(data).duration, abs=0.01)
    assert 2.0 < seconds < 10.0
