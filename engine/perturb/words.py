"""English words, for telling a typo from a real word.

Why: a typo that spells another word ("spends" -> "sends", "There" -> "Three") changes the
problem instead of adding noise. The list (SCOWL via Debian's wamerican and wbritish, see
data/NOTICE; rebuilt by scripts/make_wordlist.sh) ships with tunelens, so that a seeded variant
is the same on every machine whatever dictionaries it has installed.
"""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

__all__ = ["WORDS_FILE", "english_words", "is_word"]

WORDS_FILE = Path(__file__).with_name("data") / "english-words.txt.gz"


@cache
def english_words() -> frozenset[str]:
    """Lower-case English words (about 65,000, inflections included)."""
    with gzip.open(WORDS_FILE, "rt", encoding="ascii") as f:
        return frozenset(line.strip() for line in f if line.strip())


def is_word(text: str) -> bool:
    """True if `text` (any case) is an English word of the list."""
    return text.lower() in english_words()
