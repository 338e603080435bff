"""VUI-style inline tags in text to speak (``[laugh]``, ``[breath]``, ``<pause>``…).

Engines that can render a tag do so; the rest drop it. Tags are one lowercase word (with
``_`` or ``-``) in square or angle brackets.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"\s*(?:\[[a-z][a-z_-]*\]|<[a-z][a-z_-]*/?>)\s*")


def strip_tags(text: str) -> str:
    """Remove inline tags, keeping one space where a tag separated words."""
    return re.sub(r"\s{2,}", " ", _TAG.sub(" ", text)).strip()
