"""Word error rate with one normalisation for every test and benchmark."""

from __future__ import annotations


def wer(reference: str | list[str], hypothesis: str | list[str]) -> float:
    """Word error rate after lower-casing, splitting hyphenated words, dropping punctuation.

    Args:
        reference: The reference text, or several (pooled into one rate).
        hypothesis: The transcript, or as many transcripts as references.

    Returns:
        Substitutions, deletions and insertions over the reference words.
    """
    import jiwer

    transform = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.SubstituteRegexes({r"(\w)-(\w)": r"\1 \2"}),  # "ill-disposed" = "ill disposed"
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )
    return jiwer.wer(
        reference, hypothesis, reference_transform=transform, hypothesis_transform=transform
    )
