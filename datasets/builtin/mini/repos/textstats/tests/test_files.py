import io

import pytest

from textstats import file_top_words, file_word_count, iter_words, top_words, words


def test_iter_words_reads_a_stream():
    assert list(iter_words(io.StringIO("Hello World, it is me."))) == ["hello", "world", "it", "is", "me"]


def test_iter_words_of_an_empty_stream():
    assert list(iter_words(io.StringIO(""))) == []


def test_iter_words_rejects_a_bad_chunk_size():
    with pytest.raises(ValueError):
        list(iter_words(io.StringIO("text"), chunk_size=0))


def test_file_word_count(tmp_path):
    path = tmp_path / "post.txt"
    path.write_text("The cat sat on the mat.\nThe end.\n", encoding="utf-8")
    assert file_word_count(path) == 8


def test_file_top_words_matches_top_words(tmp_path):
    text = "Red fish, blue fish. Red fish!\nOne fish, two fish."
    path = tmp_path / "fish.txt"
    path.write_text(text, encoding="utf-8")
    assert file_top_words(path, n=2) == top_words(text, n=2) == [("fish", 5), ("red", 2)]
    assert sorted(w for w, _ in file_top_words(path, n=100, stopwords=())) == sorted(set(words(text)))
