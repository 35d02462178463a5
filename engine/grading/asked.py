"""What a word problem asks for, read from its wording: a count of what, money, which verb, and
whether a duration is wanted in minutes or hours.

The GSM8K grader uses it only where the output alone leaves the answer open: a final sentence
with several numbers ("He buys 5 notebooks for $20."), or a time written "2:15" or "2 hours and
15 minutes". It never overrides an answer the model marked ("The answer is 20").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from engine.grading.numbers import NUMBER_RE, WORD_NUMBER_RE, number_value, word_number_value

TimeUnit = Literal["minutes", "hours"]

# verb lemma -> the forms a question or an answer uses
_VERBS: dict[str, tuple[str, ...]] = {
    "keep": ("keep", "keeps", "kept", "keeping"),
    "give": ("give", "gives", "gave", "given", "giving"),
    "sell": ("sell", "sells", "sold", "selling"),
    "buy": ("buy", "buys", "bought", "buying"),
    "spend": ("spend", "spends", "spent", "spending"),
    "pay": ("pay", "pays", "paid", "paying"),
    "earn": ("earn", "earns", "earned", "earning", "make", "makes", "made", "making"),
    "save": ("save", "saves", "saved", "saving"),
    "eat": ("eat", "eats", "ate", "eaten", "eating"),
    "use": ("use", "uses", "used", "using"),
    "need": ("need", "needs", "needed"),
    "have": ("have", "has", "had", "having"),
    "left": ("left", "remain", "remains", "remaining", "remained"),
    "lose": ("lose", "loses", "lost"),
    "win": ("win", "wins", "won"),
    "read": ("read", "reads"),
    "run": ("run", "runs", "ran"),
    "cost": ("cost", "costs"),
}
_FORM_TO_VERB = {form: lemma for lemma, forms in _VERBS.items() for form in forms}
_VERB_RE = re.compile(r"\b(" + "|".join(sorted(_FORM_TO_VERB, key=len, reverse=True)) + r")\b",
                      re.I)
_HOW_MANY_RE = re.compile(r"\bhow\s+many\s+([a-z]+)", re.I)
_HOW_MUCH_RE = re.compile(r"\bhow\s+much\b([^?.]*)", re.I)
_MONEY_WORDS_RE = re.compile(
    r"\b(?:money|dollars?|cents?|euros?|pounds?|cost|costs|price|pay|paid|earn|earns|spend|"
    r"spends|save|saves|profit|charge|worth|make|makes|in\s+\$)|\$", re.I
)
_MINUTES_Q_RE = re.compile(r"\bhow\s+many\s+minutes\b|\bin\s+minutes\b", re.I)
_HOURS_Q_RE = re.compile(r"\bhow\s+many\s+hours\b|\bin\s+hours\b|\bhours\s+long\b", re.I)


@dataclass(frozen=True)
class Asked:
    """What the question asks for: `noun` ("boxes"), `money`, the question's `verb` lemma."""

    noun: str | None = None
    money: bool = False
    verb: str | None = None
    time_unit: TimeUnit | None = None


def read_question(question: str) -> Asked:
    """What `question` asks, from its last "how many X" / "how much ..." clause."""
    q = question or ""
    noun, money, verb = None, False, None
    many = list(_HOW_MANY_RE.finditer(q))
    much = list(_HOW_MUCH_RE.finditer(q))
    tail_start = 0
    if many and (not much or many[-1].start() > much[-1].start()):
        noun, tail_start = many[-1][1].lower(), many[-1].end()
    elif much:
        money, tail_start = bool(_MONEY_WORDS_RE.search(much[-1][1])), much[-1].start()
    elif re.search(r"\bprice\b|\bin\s+dollars\b|\bcost\b", q, re.I):
        money = True
    if tail_start:
        clause = re.split(r"[?.]", q[tail_start:], maxsplit=1)[0]
        if m := _VERB_RE.search(clause):
            verb = _FORM_TO_VERB[m[1].lower()]
    time_unit: TimeUnit | None = None
    if _MINUTES_Q_RE.search(q):
        time_unit = "minutes"
    elif _HOURS_Q_RE.search(q):
        time_unit = "hours"
    return Asked(noun, money, verb, time_unit)


# ---------------------------------------------------------------------------------------------
# Candidates in a sentence
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One number of an answer sentence, with what is attached to it."""

    value: Fraction
    span: tuple[int, int]
    money: bool  # "$18", "18 dollars"
    noun: str | None  # the word after it: "18 eggs" -> "eggs"
    verb: str | None  # the nearest verb before it in its clause
    verb_after: str | None = None  # a participle right after it: "36 cookies given away"


_OPERAND_AFTER_RE = re.compile(r"[ \t]*(?:[-+*×÷/x]|\\times|\\cdot)[ \t]*\(?\$?\d")
_OPERAND_BEFORE_RE = re.compile(r"(?:[-+*×÷/x]|\\times|\\cdot)[ \t]*\(?\$?[ \t]*$")
_NOUN_AFTER_RE = re.compile(r"[ \t]*([a-zA-Z]+)")
_MONEY_AFTER_RE = re.compile(r"[ \t]*(?:dollars?|cents?|euros?|€|usd)\b", re.I)
_SKIP_WORDS = {"and", "or", "for", "of", "in", "on", "at", "to", "is", "are", "so", "each",
               "per", "a", "the", "with", "from", "by", "more", "less", "than", "total"}
_CLAUSE_BREAK_RE = re.compile(r",|;|\band\b|\bso\b|\bbut\b|\bwhich\b", re.I)
_VERB_AFTER_RE = re.compile(r"(?:[ \t]+[a-zA-Z]+)?[ \t]+(" + "|".join(
    sorted(_FORM_TO_VERB, key=len, reverse=True)) + r")\b", re.I)
_SENTENCE_START_RE = re.compile(r"(?:(?<=[.!?])\s+(?=[A-Z$\d])|\n)")


_SENTENCE_END_RE = re.compile(r"[.!?](?=\s|$)|\n")
_SENTENCE_REACH = 400  # a sentence is read at most this far either side of the answer


def sentence_around(text: str, pos: int) -> tuple[int, int]:
    """(start, end) of the sentence of `text` that holds position `pos` (bounded in length)."""
    start = max(0, pos - _SENTENCE_REACH)
    for m in _SENTENCE_START_RE.finditer(text, start, pos):
        start = m.end()
    end_m = _SENTENCE_END_RE.search(text, pos, pos + _SENTENCE_REACH)
    return start, (end_m.end() if end_m else min(len(text), pos + _SENTENCE_REACH))


def candidates(text: str, start: int, end: int) -> list[Candidate]:
    """The numbers of text[start:end] that stand as quantities (not operands of working)."""
    out: list[Candidate] = []
    found: list[tuple[int, int, Fraction]] = []
    for m in NUMBER_RE.finditer(text, start, end):
        if (v := number_value(m)) is not None:
            found.append((m.start(), m.end(), v))
    for m in WORD_NUMBER_RE.finditer(text, start, end):
        if (v := word_number_value(m)) is not None and m[0].lower() not in {"one", "zero"}:
            found.append((m.start(), m.end(), v))
    for s, e, v in sorted(found):
        if _OPERAND_AFTER_RE.match(text, e) or _OPERAND_BEFORE_RE.search(
            text, max(start, s - 12), s
        ):
            continue
        money = "$" in text[s:e] or text[max(start, s - 1):s] == "$" or bool(
            _MONEY_AFTER_RE.match(text, e))
        noun_m = _NOUN_AFTER_RE.match(text, e)
        noun = noun_m[1].lower() if noun_m and noun_m[1].lower() not in _SKIP_WORDS else None
        verb = None
        clause_start = start
        for b in _CLAUSE_BREAK_RE.finditer(text, start, s):
            clause_start = b.end()
        for vm in _VERB_RE.finditer(text, clause_start, s):
            verb = _FORM_TO_VERB[vm[1].lower()]
        after = _VERB_AFTER_RE.match(text, e)
        verb_after = _FORM_TO_VERB[after[1].lower()] if after else None
        out.append(Candidate(v, (s, e), money, noun, verb, verb_after))
    return out


def same_noun(a: str | None, b: str | None) -> bool:
    """"box" and "boxes", "notebook" and "notebooks" name the same thing."""
    if a is None or b is None:
        return False
    stem = min(len(a), len(b), max(3, min(len(a), len(b)) - 2))
    return a[:stem] == b[:stem]


def counted_nouns(question: str) -> set[str]:
    """The things the question counts: the words right after its numbers ("48 cookies")."""
    out = set()
    for m in NUMBER_RE.finditer(question):
        if noun := _NOUN_AFTER_RE.match(question, m.end()):
            word = noun[1].lower()
            if word not in _SKIP_WORDS and word not in _FORM_TO_VERB:
                out.add(word)
    return out


def _by_unit(asked: Asked, cands: list[Candidate]) -> list[Candidate]:
    """The candidates whose unit is the one asked (money, or the counted noun); [] if none."""
    if asked.money:
        return [c for c in cands if c.money]
    if asked.noun is not None:
        return [c for c in cands if not c.money and same_noun(c.noun, asked.noun)]
    return []


def _contradicts(asked: Asked, picked: Candidate, counted: set[str], *, loose: bool) -> bool:
    """Whether `picked`'s own unit contradicts what is asked: a count of something the question
    counts (any noun when `loose`) where money is asked; money or another counted thing where a
    count is asked."""
    counts = picked.noun is not None and (
        loose or any(same_noun(picked.noun, n) for n in counted))
    if asked.money:
        return not picked.money and counts
    if asked.noun is not None:
        return picked.money or (
            picked.noun is not None and any(same_noun(picked.noun, n) for n in counted)
            and not same_noun(picked.noun, asked.noun))
    return False


def choose(asked: Asked, cands: list[Candidate], picked: Candidate,
           counted: set[str] = frozenset(),  # type: ignore[assignment]
           *, marked: bool = False) -> tuple[Candidate, str] | None:
    """A better candidate than `picked` per the question, with the rule that chose it; None to
    keep `picked`. ("ambiguous-multiple-numbers" when the question cannot settle it.)

    The question's verb decides first ("how many did she keep" -> the number after "kept");
    then its unit, but only against a picked number whose own unit contradicts it (a count where
    money is asked, "$20" or "36 cookies" where boxes are asked). For an answer the model
    `marked` ("The answer is 9 eggs for $18"), only a contradicting unit can move it, to the one
    number of the asked unit in the same clause; otherwise the marked answer stands.
    """
    if len({c.value for c in cands}) < 2:
        return None
    if marked:
        if not _contradicts(asked, picked, counted, loose=False):
            return None
        pool = {c.value: c for c in _by_unit(asked, cands)}
        return (next(iter(pool.values())), "question-unit") if len(pool) == 1 else None
    if asked.verb is not None:
        by_verb = [c for c in cands if asked.verb in (c.verb, c.verb_after)]
        values = {c.value for c in by_verb}
        if len(values) == 1:
            return (by_verb[-1], "question-verb") if picked.value not in values else None
        if by_verb:
            narrowed = {c.value for c in _by_unit(asked, by_verb)}
            if len(narrowed) == 1 and _contradicts(asked, picked, counted, loose=True):
                pick = [c for c in by_verb if c.value in narrowed][-1]
                return (pick, "question-unit") if pick.value != picked.value else None
            if picked.value in values:
                return None
            return by_verb[-1], "ambiguous-multiple-numbers"
    if not _contradicts(asked, picked, counted, loose=False):
        return None
    pool = _by_unit(asked, cands)
    values = {c.value for c in pool}
    if len(values) == 1:
        return pool[-1], "question-unit"
    return picked, "ambiguous-multiple-numbers"


# ---------------------------------------------------------------------------------------------
# Durations and clock times
# ---------------------------------------------------------------------------------------------

_HMM_AT_RE = re.compile(r":([0-5]\d)(?!\d)")
_THEN_MINUTES_RE = re.compile(
    r"\s*(?:hours?|hrs?|h)\s*(?:,|and)?\s*(\d+)\s*(?:minutes?|mins?)\b", re.I
)
_HOURS_MINUTES_RE = re.compile(
    r"(\d+)\s*(?:hours?|hrs?|h)\s*(?:,|and)?\s*(\d+)\s*(?:minutes?|mins?)\b\s*$", re.I
)


def as_duration(text: str, span: tuple[int, int], value: Fraction,
                unit: TimeUnit | None) -> tuple[Fraction, str] | None:
    """`value` at `span` read as a duration: "2:15" or "2 hours and 15 minutes" in the asked
    unit, with the rule name; None when the text there is no such form."""
    s, e = span
    if value.denominator != 1 or value < 0:
        return None
    hmm = _HMM_AT_RE.match(text, e)
    later = _THEN_MINUTES_RE.match(text, e)
    if hmm:
        hours, minutes = int(value), int(hmm[1])
        rule = "h:mm"
    elif later:  # "The answer is 2 hours and 15 minutes": the span is the hours
        hours, minutes = int(value), int(later[1])
        rule = "hours-minutes"
    else:
        line_start = text.rfind("\n", 0, s) + 1
        tail = re.search(r"\s*(?:minutes?|mins?)\b", text[e:e + 12], re.I)
        line_start = max(line_start, s - 60)
        m = _HOURS_MINUTES_RE.search(text, line_start, e + (tail.end() if tail else 0))
        if m is None or m.end(2) != e:
            return None
        hours, minutes = int(m[1]), int(m[2])
        rule = "hours-minutes"
    if unit == "minutes":
        return Fraction(hours * 60 + minutes), rule
    if unit == "hours":
        return Fraction(hours) + Fraction(minutes, 60), rule
    return Fraction(hours) + Fraction(minutes, 60), "ambiguous-time"
