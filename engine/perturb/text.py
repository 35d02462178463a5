"""Text helpers the perturbations share: sentences, numbers written in digits, and word lists
(number words, words that imply a value, recognised first names by gender)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction

from engine.data.embedded.templates import FEMALE_NAMES, MALE_NAMES

__all__ = [
    "FEMALE_RECOGNISED",
    "IMPLIED",
    "MALE_RECOGNISED",
    "NUMBER_WORDS",
    "numbers_in",
    "question_index",
    "sentence_spans",
    "split_sentences",
]

_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "prof", "mt", "no",
                  "approx", "e.g", "i.e", "a.m", "p.m"}
_BOUNDARY_RE = re.compile(r"[.!?][\"'”’)]*(\s+)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; abbreviations such as "Mr." and decimals do not split."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY_RE.finditer(text):
        end = match.start(1)
        nxt = text[match.end():match.end() + 1]
        if not nxt or not (nxt.isupper() or nxt.isdigit() or nxt in "$\"'“‘("):
            continue
        word = re.search(r"([\w.]+)[.!?][\"'”’)]*$", text[start:end])
        if word and word.group(1).lower() in _ABBREVIATIONS and text[match.start()] == ".":
            continue
        spans.append((start, end))
        start = match.end()
    while start < len(text) and text[start].isspace():
        start += 1
    if start < len(text.rstrip()):
        spans.append((start, len(text.rstrip())))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def split_sentences(text: str) -> list[str]:
    """Split a problem into sentences (keeps abbreviations such as "Mr." and decimals intact)."""
    return [text[a:b].strip() for a, b in sentence_spans(text)]


def question_index(sentences: Sequence[str]) -> int:
    """Index of the question sentence: the last one with '?', else the last sentence."""
    for i in range(len(sentences) - 1, -1, -1):
        if "?" in sentences[i]:
            return i
    return len(sentences) - 1


_DIGITS_RE = re.compile(r"\d+(?:[.,]\d+)*")


def numbers_in(text: str) -> list[str]:
    """Every number written in digits ("1,200", "3.5", "1.2.3"), as written."""
    return _DIGITS_RE.findall(text)


NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000, "million": 1000000,
    "once": 1, "single": 1,
}


def _implied(table: tuple[tuple[str, tuple[Fraction | int, ...]], ...]
             ) -> dict[str, tuple[Fraction | int, ...]]:
    by_word: dict[str, tuple[Fraction | int, ...]] = {}
    for words, values in table:
        for word in words.split():
            by_word[word] = tuple(Fraction(v) for v in values)
    return by_word


# Values a solution may use without annotating where they come from, keyed by a word in the
# problem that implies them. A question number with such a value is never changed, so an
# annotation operand of that value is unambiguous.
IMPLIED = _implied((
    ("half halves halfway", (2, Fraction(1, 2))),
    ("twice double doubled doubles doubling pair pairs twins both couple", (2,)),
    ("triple tripled triples thrice triplets third thirds", (3, Fraction(1, 3))),
    ("quadruple fourth fourths", (4, Fraction(1, 4))),
    ("quarter quarters", (4, Fraction(1, 4), 25, Fraction(3, 4))),
    ("fifth fifths", (5, Fraction(1, 5))),
    ("dime dimes", (10,)),
    ("nickel nickels", (5,)),
    ("penny pennies cent cents", (100,)),
    ("dozen dozens", (12,)),
    ("week weeks weekly", (7, 52)),
    ("weekday weekdays", (5,)),
    ("weekend weekends", (2,)),
    ("day days daily", (24, 7, 30, 365)),
    ("hour hours hourly", (60, 24)),
    ("minute minutes", (60,)),
    ("seconds", (60,)),  # "second" alone is mostly the ordinal
    ("year years yearly annual annually", (12, 52, 365)),
    ("month months monthly", (12, 30, 31, 4)),
    ("percent percentage", (100,)),
    ("century", (100,)),
    ("decade decades", (10,)),
    ("feet foot inch inches", (12,)),
    ("yard yards", (3, 36)),
    ("mile miles", (5280,)),
    ("kilometer kilometers kilometre kilometres meter meters metre metres", (1000, 100)),
    ("gallon gallons", (4, 128)),
    ("quart quarts", (2, 4)),
    ("pound pounds", (16,)),
    ("kilogram kilograms gram grams", (1000,)),
    ("liter liters litre litres", (1000,)),
    ("legs leg", (2, 4)),
    ("parents grandparents wife husband partner", (2, 4)),
    ("triangle triangles tricycle tricycles", (3,)),
    ("square squares rectangle rectangles car cars quadruplets seasons", (4,)),
    ("hexagon hexagons", (6,)),
    ("spider spiders octopus", (8,)),
    ("wheels wheel", (2, 3, 4)),
))


def _words(text: str) -> set[str]:
    return set(text.split())


# Recognised first names (no everyday-word readings such as May, Rose, Bill or Will), by gender.
FEMALE_RECOGNISED = set(FEMALE_NAMES) | _words("""
Janet Sally Sarah Martha Amy Mary Jane Hannah Julie Julia Kelly Maria Jenny Dora Anne Susan
Madeline Ashley Sharon Ellen Melanie Jill Samantha Cindy Sandra Sophia Brittany Lily Jenna Carly
Erin Anna Carla Marissa Naomi Carmen Betty Wendy Erica Alice Bernadette Jennifer Becky Jana Emma
Greta Ava Claire Gretchen Beatrice Sara Brianna Kylie Nancy Andrea Carol Joanne Kate Clara Sofie
Denise Sophie Shawna Wanda Amalia Marie Polly Marcy Judy Shiela Freda Jessica Harriet Elise
Shannon Laurel Lucy Lisa Lillian Tasha Heather Angela Cherrie Suzanne Kathy Ophelia Octavia
Paisley Frances Karen Mia Melissa Tanya Becca Kora Rafaela Bethany Betsy Rachel Rebecca Emily
Olivia Isabella Charlotte Abigail Madison Elizabeth Natalie Victoria Grace Zoe Chloe Megan Lauren
Stephanie Nicole Michelle Kimberly Amanda Melinda Linda Barbara Patricia Dorothy Helen Margaret
Ruth Sharon Deborah Donna Debra Carolyn Janice Kristen Tina Monica Veronica Vanessa Gina Paula
Diana Natasha Irene Gloria Teresa Louise Jasmine Kayla Alexis Leah Hailey Ella Aria Scarlett
Layla Nora Riley Penelope Camila Mila Luna Stella Violet Hazel Aurora Savannah Audrey Brooklyn
Bella Claudia Alicia Annie Tracy Wanda Edith Agnes Ursula Eva Amelia Elena Laura Nina Rita Tara
Priya Aisha Fatima Mei Yuki Ingrid Rosa Leila Mariah Tiffany Kendra Lena Tamika Yolanda
""")
MALE_RECOGNISED = set(MALE_NAMES) | _words("""
John James Peter Tom Mike Tim Robert Adam Jason Ali Bob Paul Billy Charlie Jim George David Jack
Raymond Ben Steve Carl Jake Joe Richard Harry Jerry Marcus Carlos Fred Brian Bobby Jeff Boris
Henry Aaron Jamal Juan Gary Andy Joey Stanley Daniel Stephen Luke Gerald Johnny Tony Nick
Timothy Walter Wayne Liam Anthony Tommy Greg Joseph Zack Sean Michael Gabriel Mitchell Larry
Gunther Arnold Craig Nate Leo Igor Kyle Brandon Dylan Seth Jimmy Colby Thomas Oliver Bruce Jon
Benny Rob Jonathan Ron Tobias Micah Stan Kory Camden Allen Lloyd Ted Jerome Cody Ryan Adrien
Dave Blake Rick Brady Ferdinand Matthew Darren Theo Mason Allan Lillian Frederick Matt Royce
Mack Martin Patrick Gordy Carson Isaias Vince Xavier William Christopher Andrew Joshua Kevin
Eric Jeremy Scott Justin Edward Ronald Kenneth Donald Mark Steven Gregory Jose Samuel Benjamin
Nathan Zachary Alexander Ethan Noah Lucas Mateo Logan Elijah Owen Caleb Isaac Levi Hunter
Connor Wyatt Austin Evan Ian Cole Jordan Aiden Jackson Dominic Victor Hugo Felix Oscar Omar
Ahmed Ravi Arjun Kenji Hiro Diego Marco Luis Ivan Tomas Derek Travis Trevor Troy Dennis Roger
Harold Howard Eugene Ralph Russell Philip Louis Randy Gerardo Hector Pedro Manuel Ricardo
""") - {"Jordan", "Lillian"}
FEMALE_RECOGNISED -= MALE_RECOGNISED
