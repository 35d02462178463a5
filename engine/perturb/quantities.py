"""What a number in a problem may become: limits by unit, counts of people, and the article.

Why: `numbers` draws new values of the same kind, but some quantities are bounded by the
calendar or the clock ("5 days a week" cannot become "9 days a week"), some numbers count people
the problem has already named ("the 3 friends" after three names), and the article before a
number follows how it is said ("a 6 foot pool" becomes "an 8 foot pool"). The limits are one
table, `UNIT_LIMITS`, read in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "PEOPLE_NOUNS",
    "UNIT_LIMITS",
    "UnitLimit",
    "agree_article",
    "is_age",
    "limit_for",
    "people_count_after",
    "starts_with_vowel_sound",
]

_MONTHS = (r"(?:January|February|March|April|May|June|July|August|September|October|November|"
           r"December)")
_WEEKDAYS = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)s?"
# "a", "per", "each", "every", "in a", "of the", "for each"...: one of a period.
_PER = (r"(?:a|an|per|each|every|one|in\s+(?:a|an|each|every|one|the|a\s+single)|"
        r"of\s+(?:a|an|the|each|every)|for\s+(?:a|each|every)|on\s+(?:a|each|every)|"
        r"during\s+(?:a|each|every|the)|out\s+of\s+(?:a|the|every|each))")
_GAP = r"[\s-]+"


@dataclass(frozen=True)
class UnitLimit:
    """A quantity bounded by what it counts: the text right after the number matches
    `after` (case-insensitive); new values stay within [low, high]."""

    label: str
    after: re.Pattern[str]
    low: Fraction
    high: Fraction


def _limit(label: str, after: str, low: int, high: int) -> UnitLimit:
    return UnitLimit(label, re.compile(after, re.IGNORECASE), Fraction(low), Fraction(high))


# The table: the first row whose pattern matches the text after a number bounds it.
UNIT_LIMITS: tuple[UnitLimit, ...] = (
    _limit("days per week", rf"{_GAP}days?\s+{_PER}\s+(?:week|workweek)\b", 1, 7),
    _limit("days per week", rf"{_GAP}days?{_GAP}(?:(?:a|per)\s+)?(?:work|working|school|"
           r"business|training)?[\s-]*week\b", 1, 7),
    _limit("days per week", rf"{_GAP}(?:week)?days?\s+(?:of|in)\s+(?:the|a|each|every)\s+"
           r"week\b", 1, 7),
    _limit("days per month", rf"{_GAP}days?\s+{_PER}\s+month\b", 1, 31),
    _limit("days in February", rf"{_GAP}days?\s+(?:in|of|during)\s+February\b", 1, 29),
    _limit("days per month", rf"{_GAP}days?\s+(?:in|of|during)\s+(?:the\s+month\s+of\s+)?"
           rf"{_MONTHS}\b", 1, 31),
    _limit("days per year", rf"{_GAP}days?\s+{_PER}\s+year\b", 1, 366),
    _limit("hours per day", rf"{_GAP}hours?\s+{_PER}\s+(?:day|night|shift|workday|"
           r"weekday|evening|morning|afternoon)\b", 1, 24),
    _limit("hours per day", rf"{_GAP}hours?\s+(?:on|every|each)\s+(?:a\s+)?(?:{_WEEKDAYS}|"
           r"weekday|weekend\s+day|school\s+day|work\s+day)\b", 1, 24),
    _limit("hours per day", rf"{_GAP}hours?{_GAP}(?:work|working|school)?[\s-]*"
           r"(?:day|shift|workday|night)\b", 1, 24),
    _limit("hours per week", rf"{_GAP}hours?\s+{_PER}\s+week\b", 1, 168),
    _limit("minutes per hour", rf"{_GAP}minutes?\s+{_PER}\s+hour\b", 1, 60),
    _limit("minutes per day", rf"{_GAP}minutes?\s+{_PER}\s+day\b", 1, 1440),
    _limit("seconds per minute", rf"{_GAP}seconds?\s+{_PER}\s+minute\b", 1, 60),
    _limit("weeks per year", rf"{_GAP}weeks?\s+(?:{_PER}|in|of)\s+(?:the\s+)?year\b", 1, 52),
    _limit("weeks in a named month", rf"{_GAP}weeks?\s+(?:in|of|during)\s+(?:the\s+month\s+of"
           rf"\s+)?{_MONTHS}\b", 4, 4),
    _limit("weeks per month", rf"{_GAP}weeks?\s+{_PER}\s+month\b", 4, 5),
    _limit("months per year", rf"{_GAP}months?\s+(?:{_PER}|in|of)\s+(?:the\s+)?year\b", 1, 12),
    _limit("age", rf"{_GAP}years?{_GAP}old\b", 1, 100),
    _limit("age", r"(?:st|nd|rd|th)?\s+birthday\b", 1, 100),
)

# A person's height: "Isabel is 7 feet tall" stays at most 7 feet (84 inches).
_PERSON_BEFORE = re.compile(r"(?:\b[A-Z][a-z]+|\b[Hh]e|\b[Ss]he|\bwho)\s+(?:is|was|stands|measures|"
                            r"grew\s+to)\s+$")
_PERSON_HEIGHTS = (
    _limit("a person's height", rf"{_GAP}(?:feet|foot|ft){_GAP}tall\b", 1, 7),
    _limit("a person's height", rf"{_GAP}inches{_GAP}tall\b", 12, 84),
)
_AGE_BEFORE = re.compile(r"\b(?:aged?|age\s+of|ages\s+of)\s+$", re.IGNORECASE)
_PERCENT_SHARE = UnitLimit("percentage", re.compile(r""), Fraction(0), Fraction(100))


def limit_for(text: str, start: int, end: int, percent: bool = False) -> UnitLimit | None:
    """The limit on the number at text[start:end], or None when its unit bounds nothing.

    A percentage of at most 100 is a share ("40% of the students") and stays at most 100.
    """
    after = text[end:end + 80]
    for row in UNIT_LIMITS:
        if row.after.match(after):
            return row
    if _AGE_BEFORE.search(text[max(0, start - 12):start]):
        return _limit("age", "", 1, 100)
    if _PERSON_BEFORE.search(text[max(0, start - 30):start]):
        for row in _PERSON_HEIGHTS:
            if row.after.match(after):
                return row
    if percent:
        return _PERCENT_SHARE
    return None


def is_age(text: str, start: int, end: int) -> bool:
    """True if the number at text[start:end] is a person's age ("12 years old", "aged 12")."""
    row = limit_for(text, start, end)
    return row is not None and row.label == "age"


def _split(text: str) -> list[str]:
    """The words of a word-list literal (one per space or line break)."""
    return text.split()

# Nouns for people and groups of them: a number before one counts people ("3 friends").
PEOPLE_NOUNS = frozenset(_split("""
friend friends people persons person children child kids kid students student siblings sibling
brothers sisters cousins classmates members guests guest players player boys girls men women
adults teenagers teens workers employees teammates neighbors neighbours passengers teachers sons
daughters grandchildren grandkids relatives roommates coworkers colleagues babies toddlers
visitors volunteers participants attendees campers athletes family friends' kids' children's
"""))

_PEOPLE_AFTER = re.compile(
    r"\s+(?:(?:other|more|of\s+(?:his|her|their|my|our|the|its)|best|close|good|new|older|"
    r"younger|little|grown|invited|school|college|family)\s+)*(?P<noun>[a-z']+)",
    re.IGNORECASE)


def people_count_after(text: str, end: int) -> bool:
    """True if the number ending at `end` counts people: "3 friends", "3 of his friends",
    "4 other kids", "3 of them"."""
    after = text[end:end + 60]
    if re.match(r"\s+of\s+(?:them|us|you|those|these)\b", after, re.IGNORECASE):
        return True
    m = _PEOPLE_AFTER.match(after)
    return m is not None and m.group("noun").lower() in PEOPLE_NOUNS


def starts_with_vowel_sound(number_text: str) -> bool:
    """True if the number, said aloud, starts with a vowel sound: 8, 11, 18, 80-89, 800-899,
    8,000, 11,000, 18.5... ("an 8 foot pool", "an 11-year-old", "a 5 dollar bill")."""
    whole = number_text.lstrip("$ ").replace(",", "").partition(".")[0]
    if not whole.isdigit():
        return False  # ".5" is "point five"
    n = int(whole)
    if n == 0:
        return False
    while n >= 1000:
        n //= 1000
    if n >= 100:
        return n // 100 == 8
    return n in (8, 11, 18) or 80 <= n <= 89


_ARTICLE_BEFORE = re.compile(r"(?<![\w'])(?P<art>[Aa]n?)(?P<gap>\s+\$?\s?)$")


def agree_article(before: str, number_text: str) -> str:
    """`before` (the text up to a number) with a trailing "a"/"an" made to agree with it."""
    m = _ARTICLE_BEFORE.search(before)
    if m is None:
        return before
    article = "an" if starts_with_vowel_sound(number_text) else "a"
    if m.group("art")[0] == "A":
        article = article.capitalize()
    return before[:m.start("art")] + article + m.group("gap")
