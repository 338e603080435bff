"""The inline transcript renderer: event placement, tag dedup, marks, strip round trip."""

from __future__ import annotations

import pytest

from engines.base import AudioTag, Word
from engines.tagging.inline import decorate, inline_text, strip_inline
from engines.tagging.prosody import Mark

WORDS = (
    Word(" I", 0.0, 0.2),
    Word(" really,", 0.2, 0.6),
    Word(" think", 0.6, 0.9),
    Word(" so.", 0.9, 1.3),
)
N = Mark.NONE


def tag(label: str, start: float, end: float) -> AudioTag:
    return AudioTag(label=label, score=0.9, start=start, end=end)


def test_words_are_joined_as_whisper_spells_them() -> None:
    assert inline_text(WORDS) == "I really, think so."
    hyphenated = (Word(" ill", 0.0, 0.2), Word("-disposed", 0.2, 0.6), Word(" man.", 0.6, 0.9))
    assert inline_text(hyphenated) == "ill-disposed man."
    assert inline_text(()) == ""


def test_event_goes_after_the_last_word_whose_midpoint_is_before_its_midpoint() -> None:
    # midpoints: I 0.1, really 0.4, think 0.75, so 1.1
    assert inline_text(WORDS, [tag("breath", 0.5, 0.6)]) == "I really, [breath] think so."
    assert inline_text(WORDS, [tag("laugh", 0.3, 0.45)]) == "I [laugh] really, think so."
    assert inline_text(WORDS, [tag("laugh", 0.3, 0.55)]) == "I really, [laugh] think so."
    assert inline_text(WORDS, [tag("laugh", 0.2, 0.4)]) == "I [laugh] really, think so."
    assert inline_text(WORDS, [tag("laugh", 0.0, 0.2)]) == "[laugh] I really, think so."


def test_events_before_the_first_word_lead_and_after_the_last_close() -> None:
    events = [tag("cough", 1.5, 1.8), tag("sigh", -0.5, 0.0)]
    assert inline_text(WORDS, events) == "[sigh] I really, think so. [cough]"
    assert inline_text((), [tag("laugh", 0.0, 1.0)]) == "[laugh]"


def test_same_tag_with_no_word_between_is_written_once() -> None:
    events = [tag("laugh", 0.6, 0.7), tag("laugh", 0.62, 0.7), tag("breath", 0.64, 0.7)]
    assert inline_text(WORDS, events) == "I really, [laugh] [breath] think so."
    apart = [tag("laugh", 0.0, 0.15), tag("laugh", 1.3, 1.6)]
    assert inline_text(WORDS, apart) == "[laugh] I really, think so. [laugh]"


def test_events_in_one_gap_keep_time_order_whatever_the_input_order() -> None:
    events = [tag("pause", 0.66, 0.7), tag("breath", 0.61, 0.65)]
    assert inline_text(WORDS, events) == "I really, [breath] [pause] think so."
    assert inline_text(WORDS, events[::-1]) == inline_text(WORDS, events)


def test_elongation_replaces_trailing_punctuation_with_an_ellipsis() -> None:
    marks = [N, Mark.ELONGATED, N, Mark.ELONGATED]
    assert inline_text(WORDS, marks=marks) == "I really... think so..."
    assert decorate(" um", Mark.ELONGATED) == " um..."
    assert decorate(" so...", Mark.ELONGATED) == " so..."


def test_emphasis_wraps_the_letters_and_leaves_punctuation_outside() -> None:
    assert inline_text(WORDS, marks=[N, Mark.EMPHASIS, N, N]) == "I *really*, think so."
    assert decorate("-disposed.", Mark.EMPHASIS) == "-*disposed*."
    assert decorate(' "Don\'t!"', Mark.EMPHASIS) == ' "*Don\'t*!"'
    assert decorate(" so,", Mark.EMPHASIS | Mark.ELONGATED) == " *so*..."
    assert decorate(" -", Mark.EMPHASIS) == " -"  # nothing to emphasise


def test_marks_must_match_the_words() -> None:
    with pytest.raises(ValueError, match="3 marks for 4 words"):
        inline_text(WORDS, marks=[N, N, N])


def test_strip_inline_removes_tags_and_emphasis() -> None:
    events = [tag("sigh", -0.5, 0.0), tag("laugh", 0.6, 0.7), tag("cough", 1.5, 1.8)]
    marks = [Mark.EMPHASIS, Mark.EMPHASIS, N, Mark.EMPHASIS]
    decorated = inline_text(WORDS, events, marks)
    assert decorated == "[sigh] *I* *really*, [laugh] think *so*. [cough]"
    assert strip_inline(decorated) == inline_text(WORDS) == "I really, think so."


def test_strip_inline_keeps_ellipses_where_elongation_replaced_punctuation() -> None:
    marks = [N, Mark.ELONGATED | Mark.EMPHASIS, N, N]
    decorated = inline_text(WORDS, [tag("breath", 0.6, 0.7)], marks)
    assert decorated == "I *really*... [breath] think so."
    elongated_only = [m & Mark.ELONGATED for m in marks]
    assert strip_inline(decorated) == inline_text(WORDS, marks=elongated_only)
    assert strip_inline(decorated) == "I really... think so."


def test_strip_inline_round_trip_over_hyphenated_words() -> None:
    words = (Word(" not", 0.0, 0.2), Word(" ill", 0.2, 0.4), Word("-disposed.", 0.4, 0.9))
    decorated = inline_text(words, [tag("laugh", 0.35, 0.45)], [N, Mark.EMPHASIS, N])
    assert decorated == "not *ill* [laugh]-disposed."
    assert strip_inline(decorated) == "not ill-disposed."
