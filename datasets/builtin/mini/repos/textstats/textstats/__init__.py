"""Quick statistics for English prose."""

from .stats import (
    STOPWORDS,
    average_word_length,
    flesch_reading_ease,
    reading_time,
    summary,
    top_words,
    word_count,
)
from .tokenize import sentences, syllables, words

__all__ = [
    "STOPWORDS",
    "average_word_length",
    "flesch_reading_ease",
    "reading_time",
    "sentences",
    "summary",
    "syllables",
    "top_words",
    "word_count",
    "words",
]
