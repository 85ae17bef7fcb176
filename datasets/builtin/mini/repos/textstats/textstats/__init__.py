"""Quick statistics for English prose."""

from .files import file_top_words, file_word_count, iter_words
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
    "file_top_words",
    "file_word_count",
    "flesch_reading_ease",
    "iter_words",
    "reading_time",
    "sentences",
    "summary",
    "syllables",
    "top_words",
    "word_count",
    "words",
]
