"""Splitting text into words and sentences."""

import re
from typing import List

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")
_VOWEL_GROUP_RE = re.compile(r"[aeiouy]+")


def words(text: str) -> List[str]:
    """Lowercase words of ``text``. Apostrophes inside a word are kept ("don't")."""
    normalized = text.lower().replace("\u2019", "'")
    return _WORD_RE.findall(normalized)


def sentences(text: str) -> List[str]:
    """Sentences of ``text``, split after ``.``, ``!`` or ``?`` followed by whitespace."""
    parts = _SENTENCE_END_RE.split(text.strip())
    return [part.strip() for part in parts if words(part)]


def syllables(word: str) -> int:
    """Rough syllable count of an English word (at least 1)."""
    word = word.lower().strip("'")
    if not word:
        return 0
    count = len(_VOWEL_GROUP_RE.findall(word))
    if word.endswith("e") and not word.endswith(("le", "ee")) and count > 1:
        count -= 1
    return max(1, count)
