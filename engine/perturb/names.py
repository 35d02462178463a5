"""`names`: person names swapped for other names of the same gender; gold unchanged.

Only recognised first names change, never one after a title ("Mr. Smith", "Aunt May"), never
one inside a place or other multi-word proper noun ("San Diego", "Lake Victoria", "Austin
Street", "in Charlotte"), and the new names are ones that appear nowhere in the problem or its
solution. The new name has the gender the pronouns give the person: when a problem's only
person is called by a name of one gender but the text says "she" and names no other woman
("Theo ... She gave"), the pronouns decide. A name the solution spells another way ("Sara" for
"Sarah") is renamed the same way; two spellings in the question itself make no variant.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

from engine.data.embedded.templates import FEMALE_NAMES, MALE_NAMES
from engine.perturb.registry import register, reject
from engine.perturb.text import FEMALE_RECOGNISED, MALE_RECOGNISED
from engine.perturb.words import is_word
from engine.records import Item

__all__ = ["swap_names"]

def _split(text: str) -> list[str]:
    """The words of a word-list literal (one per space or line break)."""
    return text.split()


_TITLES_RE = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Mister|Aunt|Uncle|Grandma|Grandpa|Sir|Lady|"
                        r"Saint|St|Prof|Professor|Coach|Officer|Captain|King|Queen|Prince|"
                        r"Princess)\.?\s+$")
_FEMALE_TITLES = {"Mrs", "Ms", "Miss", "Aunt", "Grandma", "Lady", "Queen", "Princess"}
_MALE_TITLES = {"Mr", "Mister", "Uncle", "Grandpa", "Sir", "King", "Prince"}
_TITLES = _FEMALE_TITLES | _MALE_TITLES | {"Dr", "Saint", "St", "Prof", "Professor", "Coach",
                                           "Officer", "Captain"}
_CALENDAR = set(_split("""
Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June
July August September October November December Christmas Easter Halloween Thanksgiving
"""))

# Words that start a place or other proper noun before a name: "San Diego", "Mount Elizabeth".
_PLACE_PREFIXES = set(_split("""
San Santa Los Las New Fort Port Mount Mt Lake Saint St Cape El La Le Del De Glen Rio Sao Costa
Puerto Baton North South East West Upper Lower Little Great Old Royal Lady Lady's Bay Point Camp
Club Hotel Radio Planet Hurricane Storm Cafe
"""))
# Words that end one after a name: "Austin Street", "Jackson Elementary", "Victoria Park".
_PLACE_SUFFIXES = set(_split("""
City Street St Avenue Ave Road Rd Boulevard Blvd Lane Drive Way Place Court County State States
Park Island Islands River Lake Bay Beach Mountain Mountains Mount Hill Hills Valley Square
Bridge Mall Hall Center Centre School Elementary High Middle University College Academy Airport
Station Hotel Restaurant Cafe Diner Inc Company Co Corp Corporation Store Stores Market
Supermarket Zoo Museum Library Stadium Arena Theater Theatre Church Hospital Falls Springs
Heights Village Town Township Bank Gardens Garden Farms Ranch Harbor Harbour Port Canyon Forest
Creek Pond Ocean Sea Gulf Coast County Province Kingdom Republic Motors Airlines Pizza Burgers
Books Brothers Bros Enterprises Industries Pharmacy Bakery Cinema Cinemas
"""))
# Recognised names that are also places; after "in", "from", "near"... they are the place.
_PLACE_NAMES = set(_split("""
Austin Charlotte Savannah Brooklyn Aurora Victoria Jackson Madison Florence Sydney Orlando
Dallas Houston Paris Chelsea Phoenix Virginia Georgia Carolina Dakota Troy Eugene Logan Lincoln
Camden Regina Helena Adelaide Alexandria Augusta Elizabeth Marion Diego Salem Sierra Denver
Tyler Chester Raleigh Nancy Lorraine Adrian Columbus Hamilton Washington Kingston Jordan Israel
India China Kenya Asia Africa
"""))
_LOCATIVE_BEFORE = re.compile(r"\b(?:in|from|to|at|near|visit|visits|visited|visiting|toward|"
                              r"towards|around|across|through|outside|inside|downtown|via|"
                              r"reach|reached|leave|left|leaves|drove|drive|flew|fly|flies|"
                              r"travel|travels|traveled|travelled)\s+$", re.IGNORECASE)

_HE = re.compile(r"\b(?:he|him|his|himself)\b", re.IGNORECASE)
_SHE = re.compile(r"\b(?:she|her|hers|herself)\b", re.IGNORECASE)
# People of one gender a pronoun may point at other than a named person. Nouns of either gender
# ("the teacher", "a friend") are left out on purpose: a problem whose only named person is
# "Theo" and that says "She gave the cashier $10" means Theo.
_FEMALE_NOUNS = re.compile(
    r"\b(?:mother|mothers|mom|moms|mum|mommy|mama|sister|sisters|daughter|daughters|wife|wives|"
    r"girl|girls|girlfriend|woman|women|lady|ladies|aunt|aunts|aunty|auntie|grandma|grandmother|"
    r"granny|niece|nieces|queen|princess|bride|actress|waitress|hostess|mrs|ms|miss|madam|"
    r"female|females|cow|cows|hen|hens|mare|doe|ewe|stepmother|sister-in-law|"
    r"mother-in-law|daughter-in-law|godmother|nun|goddess|heroine)\b",
    re.IGNORECASE)
_MALE_NOUNS = re.compile(
    r"\b(?:father|fathers|dad|dads|daddy|papa|brother|brothers|son|sons|husband|husbands|boy|boys|"
    r"boyfriend|man|men|gentleman|gentlemen|uncle|uncles|grandpa|grandfather|nephew|nephews|"
    r"king|prince|groom|mr|sir|male|males|bull|bulls|rooster|roosters|stallion|ram|stepfather|"
    r"brother-in-law|father-in-law|son-in-law|godfather|monk|god|hero|waiter|host)\b",
    re.IGNORECASE)

_REASONS = {
    "no-names": "no recognised first name outside titles and place names",
    "pronoun-gender": "the pronouns give a named person another gender than the name, and it "
                      "is unclear which person",
    "name-spelled-two-ways": "the question spells one name two ways (or two similar names)",
    "no-free-name": "no unused name of the right gender is left",
}

_WORD_RE = re.compile(r"\b[A-Z][a-z]+\b")


def _known(word: str) -> bool:
    return word in FEMALE_RECOGNISED or word in MALE_RECOGNISED


def _sentence_start(text: str, at: int) -> bool:
    before = text[:at].rstrip(" \t\"'“‘(")
    return not before or before[-1] in ".!?:\n"


def _in_proper_noun(text: str, start: int, end: int, word: str) -> bool:
    """True if the name at text[start:end] is part of a place or other multi-word proper noun."""
    prev = re.search(r"\b([A-Z][a-z]+|St\.|Mt\.|Ft\.)[ \t]+$", text[max(0, start - 30):start])
    if prev:
        p = prev.group(1).rstrip(".")
        at = start - len(text[max(0, start - 30):start]) + prev.start(1)
        if p in _PLACE_PREFIXES:
            return True
        if (not _sentence_start(text, at) and not _known(p) and p not in _TITLES
                and p not in _CALENDAR):
            return True  # "Camp Ivan", "Hurricane Laura": a capitalised word mid-sentence
    nxt = re.match(r"[ \t]+([A-Z][a-z]+)\b", text[end:end + 30])
    if nxt and nxt.group(1) in _PLACE_SUFFIXES:
        return True
    return word in _PLACE_NAMES and bool(_LOCATIVE_BEFORE.search(text[max(0, start - 14):start]))


def _similar(a: str, b: str) -> bool:
    """Two spellings of one name: one a short extension of the other ("Tasha"/"Tashay",
    "Sara"/"Sarah"), one with a letter more ("Jon"/"John"), or one letter apart in names of 4+
    letters ("Marissa"/"Merissa"); "Tom"/"Tim" are two names."""
    if a == b or a[0] != b[0]:
        return False
    short, long_ = sorted((a, b), key=len)
    if len(short) >= 3 and long_.startswith(short) and len(long_) - len(short) <= 2:
        return True
    if len(short) >= 3 and len(long_) == len(short) + 1 and any(
            long_[:i] + long_[i + 1:] == short for i in range(len(long_))):
        return True
    if min(len(a), len(b)) < 4 or abs(len(a) - len(b)) > 1:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] <= 1


def _genders(item: Item, present: list[str], others: set[str]) -> dict[str, str]:
    """Each name's gender: its list's, unless the pronouns say otherwise (see module doc)."""
    genders = {n: "f" if n in FEMALE_RECOGNISED else "m" for n in present}
    text = item.question + "\n" + (item.solution or "")
    pronouns = {"m": bool(_HE.search(text)), "f": bool(_SHE.search(text))}
    referents = {"f": bool(_FEMALE_NOUNS.search(text)) or bool(others & {"f", "?"}),
                 "m": bool(_MALE_NOUNS.search(text)) or bool(others & {"m", "?"})}
    fixed = set()
    for name in present:
        # "his sister Angela", "her son Theo": the noun says the gender.
        for m in re.finditer(rf"\b(\w+)[ \t]+{re.escape(name)}\b", item.question):
            if _FEMALE_NOUNS.fullmatch(m.group(1)):
                genders[name] = "f"
                fixed.add(name)
            elif _MALE_NOUNS.fullmatch(m.group(1)):
                genders[name] = "m"
                fixed.add(name)
    for gender in ("f", "m"):
        other = "m" if gender == "f" else "f"
        if not pronouns[gender] or referents[gender] or gender in genders.values():
            continue
        if len(present) == 1 and present[0] in fixed:
            continue  # "his sister Angela ... he": he is not Angela, whoever he is
        # A "she" with no woman to point at but a named person called by a man's name.
        if len(present) > 1 or (pronouns[other] and not referents[other]):
            raise reject("pronoun-gender")
        genders[present[0]] = gender
    return genders


@register("names", description="person names swapped for others of the same gender",
          reasons=_REASONS)
def swap_names(item: Item, rng: random.Random) -> Item | None:
    """Each recognised name replaced consistently in question, solution and fields."""
    solution = item.solution or ""
    text_all = item.question + "\n" + solution
    present: list[str] = []
    excluded: set[str] = set()
    # Gender of people the problem mentions that are not renamed ("?": a capitalised word
    # mid-sentence that may be a name tunelens does not know).
    others: set[str] = set()
    for text in (item.question, solution):
        for m in _WORD_RE.finditer(text):
            word = m.group(0)
            if not _known(word):
                if word in _FEMALE_TITLES:
                    others.add("f")
                elif word in _MALE_TITLES:
                    others.add("m")
                elif (word not in _CALENDAR and word not in _TITLES and text is item.question
                      and not (_sentence_start(text, m.start()) and is_word(word))):
                    others.add("?")
                continue
            if (_TITLES_RE.search(text[max(0, m.start() - 12):m.start()])
                    or _in_proper_noun(text, m.start(), m.end(), word)):
                excluded.add(word)
            elif text is item.question and word not in present:
                present.append(word)
    present = [n for n in present if n not in excluded]
    if not present:
        raise reject("no-names")
    for i, name in enumerate(present):
        if any(_similar(name, other) for other in present[i + 1:]):
            raise reject("name-spelled-two-ways")
    genders = _genders(item, present, others)
    capitalised = set(_WORD_RE.findall(text_all))
    mapping: dict[str, str] = {}
    for name in present:
        pool = FEMALE_NAMES if genders[name] == "f" else MALE_NAMES
        choices = [n for n in pool if n not in capitalised and n not in mapping.values()]
        if not choices:
            raise reject("no-free-name")
        mapping[name] = rng.choice(choices)
    # The same person spelled another way ("Sara" in the solution for "Sarah"): the same name.
    question_words = set(_WORD_RE.findall(item.question))
    spelled = {}
    for word in sorted(capitalised - set(mapping) - excluded):
        for name in present:
            if _similar(word, name) and (_known(word) or not is_word(word)):
                if word in question_words:
                    raise reject("name-spelled-two-ways")
                spelled[word] = mapping[name]
    every = {**mapping, **spelled}
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, every)) + r")\b")

    def swap(text: str) -> str:
        return pattern.sub(lambda m: every[m.group(1)], text)

    fields = dict(item.fields)
    if isinstance(fields.get("names"), dict):
        fields["names"] = {slot: mapping.get(n, n) for slot, n in fields["names"].items()}
    params: dict[str, object] = {"mapping": mapping}
    if spelled:
        params["also"] = spelled
    if any(genders[n] != ("f" if n in FEMALE_RECOGNISED else "m") for n in present):
        params["gender_from_pronouns"] = [n for n in present
                                          if genders[n] != ("f" if n in FEMALE_RECOGNISED
                                                            else "m")]
    return replace(item, question=swap(item.question),
                   solution=swap(item.solution) if item.solution else item.solution,
                   fields=fields, perturbation_params=params)
