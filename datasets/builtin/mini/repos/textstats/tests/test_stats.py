import pytest

from textstats import (
    average_word_length,
    flesch_reading_ease,
    reading_time,
    summary,
    top_words,
    word_count,
)


def test_word_count():
    assert word_count("The cat sat on the mat.") == 6
    assert word_count("") == 0


def test_average_word_length():
    assert average_word_length("aa bbbb") == 3.0
    assert average_word_length("a bb bb") == 1.67


def test_top_words_skips_stopwords():
    text = "The cat and the dog. The cat!"
    assert top_words(text) == [("cat", 2), ("dog", 1)]


def test_top_words_limit():
    text = "red red red green green blue"
    assert top_words(text, n=2) == [("red", 3), ("green", 2)]
    assert top_words(text, n=0) == []


def test_top_words_without_stopwords():
    assert top_words("the the end", stopwords=()) == [("the", 2), ("end", 1)]


def test_reading_time():
    assert reading_time("word " * 400) == 2
    assert reading_time("word " * 600, wpm=300) == 2


def test_reading_time_rejects_bad_speed():
    with pytest.raises(ValueError):
        reading_time("text", wpm=0)


def test_flesch_reading_ease_of_simple_text():
    assert flesch_reading_ease("The cat sat on the mat.") == 116.1


def test_summary_keys():
    assert set(summary("Hello there. General Kenobi!")) == {
        "words",
        "sentences",
        "average_word_length",
        "reading_time",
        "flesch",
    }
