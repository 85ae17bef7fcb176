"""Statistics over a text."""

import math
from collections import Counter
from typing import Dict, Iterable, List, Tuple

from .tokenize import sentences, syllables, words

STOPWORDS = frozenset(
    """a an and are as at be but by for from has have i in is it its of on or that the this
    to was were will with you your""".split()
)


def word_count(text: str) -> int:
    return len(words(text))


def average_word_length(text: str) -> float:
    """Mean number of characters per word, rounded to 2 places; 0.0 without words."""
    tokens = words(text)
    if not tokens:
        return 0.0
    return round(sum(len(token) for token in tokens) / len(tokens), 2)


def top_words(
    text: str, n: int = 10, stopwords: Iterable[str] = STOPWORDS
) -> List[Tuple[str, int]]:
    """The ``n`` most frequent words, most frequent first, ties in alphabetical order."""
    if n <= 0:
        return []
    excluded = set(stopwords)
    counts = Counter(token for token in words(text) if token not in excluded)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:n]


def reading_time(text: str, wpm: int = 200) -> int:
    """Minutes needed to read ``text`` at ``wpm`` words per minute, rounded up."""
    if wpm <= 0:
        raise ValueError("wpm must be positive")
    return math.ceil(word_count(text) / wpm)


def flesch_reading_ease(text: str) -> float:
    """Flesch reading ease score (higher is easier), rounded to 1 place; 0.0 for empty text."""
    tokens = words(text)
    sentence_count = len(sentences(text))
    if not tokens or not sentence_count:
        return 0.0
    syllable_count = sum(syllables(token) for token in tokens)
    score = 206.835 - 1.015 * (len(tokens) / sentence_count) - 84.6 * (syllable_count / len(tokens))
    return round(score, 1)


def summary(text: str) -> Dict[str, float]:
    return {
        "words": word_count(text),
        "sentences": len(sentences(text)),
        "average_word_length": average_word_length(text),
        "reading_time": reading_time(text),
        "flesch": flesch_reading_ease(text),
    }
