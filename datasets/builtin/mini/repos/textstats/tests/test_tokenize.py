from textstats import sentences, syllables, words


def test_words_are_lowercase():
    assert words("Hello World") == ["hello", "world"]


def test_words_ignore_punctuation():
    assert words("one, two; three... four!") == ["one", "two", "three", "four"]


def test_words_include_numbers():
    assert words("Python 3 is 30 years old") == ["python", "3", "is", "30", "years", "old"]


def test_sentences_split_on_terminal_punctuation():
    assert sentences("It works. Does it? Yes!") == ["It works.", "Does it?", "Yes!"]


def test_sentences_of_empty_text():
    assert sentences("") == []
    assert sentences("   ") == []


def test_syllables():
    assert syllables("cat") == 1
    assert syllables("table") == 2
    assert syllables("make") == 1
    assert syllables("banana") == 3
