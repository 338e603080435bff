"""The batch pipeline: chunk planning, time mapping and assembly (pure), then real audio."""

from __future__ import annotations

import numpy as np
import pytest

from engines.audio import DecodedAudio
from engines.base import (
    AudioTag,
    DecodeOptions,
    Segment,
    SpeakerTurn,
    SpeechEdge,
    Transcript,
    Word,
)
from engines.errors import AudioDecodeError
from engines.testing import ScriptedVAD
from realtime.batch.assembly import (
    BatchSegment,
    assign_speakers,
    regroup_words,
    split_by_speaker,
)
from realtime.batch.chunking import Chunk, pad_and_filter, plan_chunks
from realtime.batch.pipeline import (
    Cancelled,
    NoSpeech,
    PipelineOptions,
    check_complete,
    transcribe_audio,
    transcribe_file,
)
from realtime.batch.render import render_text, segment_records
from testkit.wer import wer

SR = 16_000


def test_plan_chunks_packs_speech_up_to_the_limit_and_never_splits_a_range():
    ranges = [(0, 10 * SR), (12 * SR, 25 * SR), (26 * SR, 40 * SR), (41 * SR, 120 * SR)]
    chunks = plan_chunks(ranges, 30 * SR)
    assert [c.spans for c in chunks] == [
        ((0, 10 * SR), (12 * SR, 25 * SR)),
        ((26 * SR, 40 * SR),),
        ((41 * SR, 120 * SR),),  # 79 s of unbroken speech: one chunk, Whisper windows it
    ]
    assert sum(c.samples for c in chunks) == sum(e - s for s, e in ranges)
    assert plan_chunks([], 30 * SR) == []


def test_chunk_times_map_back_across_the_left_out_silence():
    chunk = Chunk(((SR, 3 * SR), (10 * SR, 11 * SR)))
    assert chunk.to_source(0.0) == 1.0
    assert chunk.to_source(1.5) == 2.5
    assert chunk.to_source(2.0) == 10.0  # a start on the joint is in the later span
    assert chunk.to_source(2.0, is_end=True) == 3.0  # an end on the joint closes the earlier
    assert chunk.to_source(2.5) == 10.5
    assert chunk.to_source(99.0) == 11.0  # clamped to the last span's end
    audio = np.arange(12 * SR, dtype=np.int16)
    assert np.array_equal(chunk.extract(audio), np.r_[audio[SR : 3 * SR], audio[10 * SR : 11 * SR]])


def test_pad_and_filter_drops_clicks_and_pads_ends_without_overlap():
    prefix = int(0.3 * SR)
    ranges = [
        (0, int(0.1 * SR)),
        (SR, 2 * SR),
        (2 * SR + 100, 3 * SR),
        (5 * SR, 5 * SR + prefix + 10),
    ]
    out = pad_and_filter(ranges, 6 * SR)
    assert out == [(SR, 2 * SR + 100), (2 * SR + 100, 3 * SR + int(0.3 * SR))]


def seg(speaker, text, start, end, words=()):
    return BatchSegment(speaker, text, start, end, tuple(words))


def test_text_has_one_line_per_speaker_turn_and_segment_idx_restarts_per_turn():
    segments = [
        seg("0", "Yeah, let's start.", 0.8, 6.4),
        seg("1", "Sounds perfect", 6.0, 7.2),
        seg("1", "That makes sense.", 7.5, 9.8),
        seg("0", "So.", 10.0, 11.0),
    ]
    assert render_text(segments) == (
        "SPEAKER_0: Yeah, let's start.\nSPEAKER_1: Sounds perfect That makes sense.\nSPEAKER_0: So."
    )
    records = segment_records(segments, words=False)
    assert [r["segment_idx"] for r in records] == [0, 0, 1, 0]  # as the reference example
    assert records[1] == {
        "speaker": "1",
        "text": "Sounds perfect",
        "start": 6.0,
        "end": 7.2,
        "segment_idx": 0,
    }
    assert render_text([]) == ""


def test_non_speech_tags_go_inline_only_when_asked():
    words = [Word(" Let's", 0.0, 0.3), Word(" start", 0.3, 0.6), Word(" here.", 1.5, 1.8)]
    segments = [seg("0", "Let's start here.", 0.0, 1.8, words)]
    tags = [AudioTag("breath", 0.9, 0.7, 1.2), AudioTag("laugh", 0.8, 2.0, 2.5)]
    assert render_text(segments, tags) == "SPEAKER_0: Let's start here."
    assert render_text(segments, tags, non_speech=True) == (
        "SPEAKER_0: Let's start [breath] here. [laugh]"
    )
    records = segment_records(segments, words=True)
    assert records[0]["text"] == "Let's start here."  # segments never carry tags
    assert records[0]["words"][0] == {"word": "Let's", "start": 0.0, "end": 0.3}


def test_speakers_follow_diarization_turns_renumbered_by_appearance():
    segments = [seg("0", "a", 0, 2), seg("0", "b", 2, 4), seg("0", "c", 4, 6), seg("0", "d", 9, 10)]
    turns = [SpeakerTurn("spk7", 0, 2.5), SpeakerTurn("spk3", 2.5, 6)]
    assert [s.speaker for s in assign_speakers(segments, turns)] == ["0", "1", "1", "1"]
    assert [s.speaker for s in assign_speakers(segments, None)] == ["0"] * 4


def test_a_segment_two_speakers_share_is_split_where_the_speaker_changes():
    words = [Word(" Yes.", 0.0, 0.4), Word(" No", 1.0, 1.3), Word(" way.", 1.3, 1.6)]
    segments = [seg("0", "Yes. No way.", 0.0, 1.6, words), seg("0", "Fine.", 3.0, 3.5)]
    turns = [SpeakerTurn("7", 0.0, 0.5), SpeakerTurn("3", 0.9, 1.7), SpeakerTurn("7", 2.9, 3.6)]
    out = split_by_speaker(segments, turns)
    assert [(s.speaker, s.text, s.start, s.end) for s in out] == [
        ("0", "Yes.", 0.0, 0.4),
        ("1", "No way.", 1.0, 1.6),
        ("0", "Fine.", 3.0, 3.5),  # no words: attributed whole
    ]
    assert render_text(out) == "SPEAKER_0: Yes.\nSPEAKER_1: No way.\nSPEAKER_0: Fine."
    assert [s.speaker for s in split_by_speaker(segments, [])] == ["0", "0"]


def test_words_left_after_listening_go_back_to_their_segments():
    from engines.tagging.prosody import Mark

    laugh = Word(" [Laughter]", 0.5, 0.9)
    words = [Word(" Um...", 0.0, 0.4), laugh, Word(" so", 0.9, 1.1), Word(" yes.", 2.0, 2.3)]
    segments = [
        seg("0", "Um... [Laughter] so", 0.0, 1.1, words[:3]),
        seg("0", "yes.", 2.0, 2.3, words[3:]),
        seg("0", "[Laughter]", 3.0, 3.4, [Word(" [Laughter]", 3.0, 3.4)]),
    ]
    kept = [words[0], words[2], words[3]]
    marks = [Mark.ELONGATED, Mark.NONE, Mark.EMPHASIS]
    out = regroup_words(segments, kept, marks)
    assert [(s.text, s.marks) for s in out] == [
        ("Um... so", (Mark.ELONGATED, Mark.NONE)),
        ("yes.", (Mark.EMPHASIS,)),
    ]  # the segment that held only an annotation is gone
    tags = [AudioTag("laugh", 0.8, 0.45, 0.9)]
    assert render_text(out, tags, non_speech=True) == "SPEAKER_0: Um... [laugh] so *yes*."
    assert render_text(out, tags) == "SPEAKER_0: Um... so yes."


def test_check_complete_refuses_a_cut_file_only_when_much_is_missing():
    class Audio:
        duration = 3.0

    check_complete(Audio(), 3.2, label="a.mp3")
    check_complete(Audio(), None, label="a.mp3")
    with pytest.raises(AudioDecodeError, match="truncated"):
        check_complete(Audio(), 11.0, label="a.mp3")


class RecordingASR:
    """A :class:`~engines.base.BatchASR` and nothing more: no Whisper internals to detect."""

    def __init__(self) -> None:
        self.decodes: list[tuple[int, object, object]] = []

    def transcribe(self, audio, options, *, decode=None, on_progress=None):
        self.decodes.append((len(audio), decode, options))
        end = len(audio) / SR
        on_progress(end / 2)
        word = Word(" hello", 0.0, end)
        return Transcript("hello", "en", 0.0, end, (word,), (Segment("hello", 0.0, end, (word,)),))


def tone(seconds: float) -> DecodedAudio:
    t = np.arange(int(seconds * SR)) / SR
    return DecodedAudio((8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16), "pcm", "wav", SR, 1)


def test_any_batch_asr_gets_the_decode_options_and_reports_progress():
    vad = ScriptedVAD([(SpeechEdge.START, 0), (SpeechEdge.END, 2 * SR)])
    asr = RecordingASR()
    progress: list[float] = []
    result = transcribe_audio(
        tone(3.0),
        vad,
        asr,
        PipelineOptions(beam_size=3, language="en"),
        on_progress=progress.append,
    )
    ((samples, decode, options),) = asr.decodes
    assert decode == DecodeOptions(beam_size=3, vad_filter=False)
    assert (options.language, options.word_timestamps) == ("en", True)
    assert samples > 2 * SR  # the speech range plus its padding
    assert result.plain_text == "hello"
    assert 0.0 < progress[1] < progress[-1] == 1.0  # mid-decode progress came through


def test_a_batch_asr_is_cancelled_through_its_progress_callback():
    vad = ScriptedVAD([(SpeechEdge.START, 0), (SpeechEdge.END, 2 * SR)])
    stops = iter([False, True])  # before the chunk: go on; inside the decode: stop
    with pytest.raises(Cancelled):
        transcribe_audio(tone(3.0), vad, RecordingASR(), should_stop=lambda: next(stops))


# --- real models on real audio ------------------------------------------------------------


@pytest.fixture(scope="module")
def engines():
    from realtime.inference.loading import load_engines
    from realtime.server.settings import Settings

    return load_engines(Settings())


@pytest.mark.model
def test_jfk_through_the_pipeline(engines, testdata):
    progress: list[float] = []
    result = transcribe_file(
        testdata / "openai-whisper/jfk.flac",
        engines.vad,
        engines.asr,
        PipelineOptions(),
        on_progress=progress.append,
    )
    reference = (testdata / "openai-whisper/jfk.txt").read_text()
    assert wer(reference, result.plain_text) <= 0.05
    assert (result.codec, result.language, result.num_chunks, result.num_speakers) == (
        "flac",
        "en",
        1,
        1,
    )
    assert progress[0] == 0.0 and progress[-1] == 1.0 and progress == sorted(progress)
    words = [w for s in result.segments for w in s.words]
    assert words[0].text.strip() == "And" and 0.0 <= words[0].start < 1.0
    assert words[-1].end <= result.duration


@pytest.mark.model
@pytest.mark.parametrize("name", ["pyannote/empty.wav", "aana/squirrel.wav"])
def test_recordings_without_speech_are_refused(engines, testdata, name):
    with pytest.raises(NoSpeech, match="no speech found"):
        transcribe_file(testdata / name, engines.vad, engines.asr)


@pytest.mark.model
def test_should_stop_cancels_between_steps(engines, testdata):
    from realtime.batch.pipeline import Cancelled

    with pytest.raises(Cancelled):
        transcribe_file(
            testdata / "openai-whisper/jfk.flac", engines.vad, engines.asr, should_stop=lambda: True
        )
