"""Statistics over text files too large to read into memory at once."""

import os
from collections import Counter
from typing import IO, Iterable, Iterator, List, Tuple, Union

from .stats import STOPWORDS
from .tokenize import words

CHUNK_SIZE = 64 * 1024

PathLike = Union[str, "os.PathLike[str]"]


def iter_words(stream: IO[str], chunk_size: int = CHUNK_SIZE) -> Iterator[str]:
    """Yields the words of a text stream, as ``words()`` would, reading ``chunk_size`` characters
    at a time."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    pending = ""
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        text = pending + chunk
        # The last word may go on in the next chunk: keep back what follows the last whitespace.
        cut = len(text)
        while cut > 0 and not text[cut - 1].isspace():
            cut -= 1
        pending = text[cut:]
        yield from words(text[:cut])
    yield from words(pending)


def file_word_count(path: PathLike) -> int:
    """Number of words in the UTF-8 text file at ``path``."""
    with open(path, encoding="utf-8") as stream:
        return sum(1 for _ in iter_words(stream))


def file_top_words(
    path: PathLike, n: int = 10, stopwords: Iterable[str] = STOPWORDS
) -> List[Tuple[str, int]]:
    """``top_words()`` of the UTF-8 text file at ``path``."""
    if n <= 0:
        return []
    excluded = set(stopwords)
    with open(path, encoding="utf-8") as stream:
        counts = Counter(token for token in iter_words(stream) if token not in excluded)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:n]
