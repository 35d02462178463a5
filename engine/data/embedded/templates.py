"""The embedded default dataset: grade-school word problems written as templates for tunelens.

Why templates: the demo models are tiny (135M/270M) and score near zero on real GSM8K, so the
default set is made of easy one-, two- and three-step problems where base/instruct differences
show. Each template has named integer variables with ranges, person slots filled from a name list
(with matching pronouns), a question, a worked solution and an answer expression. Because every
item comes from a template, `instantiate(template, seed)` can produce fresh variants with exact
answers (the `symbolic` perturbation, in the spirit of GSM-Symbolic).

Placeholders in question and solution texts:
  {var}           the value of a variable; {name}/{name2} a person's name;
  {he} {him} {his} {He} {His} pronouns of `name` ({he2}... for `name2`);
  {answer}        the answer;
  [[expr]]        an arithmetic expression over the variables, evaluated exactly.

Every `[[expr]]`, and the answer, must come out as a positive integer (so subtractions stay
positive and divisions are exact); extra `constraints` (comparisons) can narrow things further.
Instantiation retries derived seeds deterministically until all of that holds.

Expressions are evaluated by `evaluate`, a tiny AST walker over numbers, names, + - * / // % **
(small integer exponents), unary minus, parentheses and comparisons, in exact Fraction arithmetic.
It never calls `eval`.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from engine.records import Item

__all__ = [
    "DEFAULT_TEMPLATES",
    "FEMALE_NAMES",
    "MALE_NAMES",
    "TEMPLATES",
    "EvalError",
    "Template",
    "default_items",
    "evaluate",
    "format_number",
    "get_template",
    "instantiate",
    "stable_int",
]

DATASET = "embedded"


# --------------------------------------------------------------------------- safe evaluator


class EvalError(ValueError):
    """An expression is malformed, uses something outside the tiny grammar, or divides by 0."""


_BIN_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_CMP_OPS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
_MAX_EXPR_CHARS = 500
_MAX_MAGNITUDE = Fraction(10) ** 15


def evaluate(expr: str, variables: Mapping[str, int | Fraction] | None = None) -> Fraction:
    """Evaluate an arithmetic expression exactly (Fractions), never with Python's `eval`.

    Supports numbers (incl. `.5`), variable names, + - * / // % **, unary +/-, parentheses, and
    comparisons / `and` (which evaluate to 1 or 0, for template constraints). Raises EvalError
    on anything else, on division by zero and on absurdly large values.
    """
    if len(expr) > _MAX_EXPR_CHARS:
        raise EvalError("expression too long")
    return _eval_node(_parse(expr.strip()), variables or {})


@functools.lru_cache(maxsize=8192)
def _parse(expr: str) -> ast.expr:
    """Parse once per distinct expression (trees are only read, so sharing them is safe)."""
    try:
        return ast.parse(expr, mode="eval").body
    except SyntaxError as exc:
        raise EvalError(f"cannot parse {expr!r}") from exc


def _eval_node(node: ast.AST, variables: Mapping[str, int | Fraction]) -> Fraction:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise EvalError(f"unsupported constant {node.value!r}")
        # Floats come from literals like 1.5: go through their repr to stay exact.
        return Fraction(repr(node.value)) if isinstance(node.value, float) else Fraction(node.value)
    if isinstance(node, ast.Name):
        if node.id not in variables:
            raise EvalError(f"unknown name {node.id!r}")
        return Fraction(variables[node.id])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _eval_node(node.operand, variables)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, _BIN_OPS):
        left = _eval_node(node.left, variables)
        right = _eval_node(node.right, variables)
        result = _apply(node.op, left, right)
        if abs(result) > _MAX_MAGNITUDE:
            raise EvalError("value too large")
        return result
    if isinstance(node, ast.Compare) and all(isinstance(op, _CMP_OPS) for op in node.ops):
        left = _eval_node(node.left, variables)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval_node(comparator, variables)
            if not _compare(op, left, right):
                return Fraction(0)
            left = right
        return Fraction(1)
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return Fraction(int(all(_eval_node(v, variables) != 0 for v in node.values)))
    raise EvalError(f"unsupported syntax: {type(node).__name__}")


def _apply(op: ast.operator, left: Fraction, right: Fraction) -> Fraction:
    if isinstance(op, ast.Add):
        return left + right
    if isinstance(op, ast.Sub):
        return left - right
    if isinstance(op, ast.Mult):
        return left * right
    if isinstance(op, ast.Pow):
        if right.denominator != 1 or not 0 <= right <= 12:
            raise EvalError("only small non-negative integer exponents are supported")
        return left ** int(right)
    if right == 0:
        raise EvalError("division by zero")
    if isinstance(op, ast.Div):
        return left / right
    if isinstance(op, ast.FloorDiv):
        return Fraction(left // right)
    return left % right


def _compare(op: ast.cmpop, left: Fraction, right: Fraction) -> bool:
    if isinstance(op, ast.Lt):
        return left < right
    if isinstance(op, ast.LtE):
        return left <= right
    if isinstance(op, ast.Gt):
        return left > right
    if isinstance(op, ast.GtE):
        return left >= right
    if isinstance(op, ast.Eq):
        return left == right
    return left != right


def format_number(value: Fraction | int, max_decimals: int = 6) -> str:
    """Render an exact value as GSM8K writes golds: '18', '2.5', '-3'; repeating → rounded."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.{max_decimals}f}".rstrip("0").rstrip(".")
    return text or "0"


def stable_int(*parts: object) -> int:
    """A stable 64-bit integer from its parts (hashlib, never Python's salted `hash`)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


# --------------------------------------------------------------------------- names

# Common first names with an unambiguous gender and no everyday-word reading, so that pronouns
# stay right and the `names` perturbation can recognise them. Templates draw from these too.
FEMALE_NAMES: tuple[str, ...] = (
    "Ava", "Emma", "Olivia", "Sophia", "Mia", "Amelia", "Chloe", "Zoe", "Nora", "Lucy",
    "Hannah", "Sarah", "Maria", "Julia", "Anna", "Elena", "Clara", "Laura", "Nina", "Rita",
    "Tara", "Priya", "Aisha", "Fatima", "Mei", "Yuki", "Ingrid", "Greta", "Rosa", "Leila",
)
MALE_NAMES: tuple[str, ...] = (
    "Liam", "Noah", "Ethan", "Lucas", "Oliver", "Leo", "Owen", "Henry", "Samuel", "Daniel",
    "David", "Thomas", "Peter", "Paul", "Omar", "Ahmed", "Ravi", "Arjun", "Kenji", "Hiro",
    "Carlos", "Diego", "Marco", "Luis", "Felix", "Oscar", "Hugo", "Ivan", "Tomas", "Adam",
)
_PRONOUNS = {
    "f": {"he": "she", "him": "her", "his": "her"},
    "m": {"he": "he", "him": "him", "his": "his"},
}


# --------------------------------------------------------------------------- templates

VarSpec = tuple[int, int] | tuple[int, int, int] | list[int]


@dataclass(frozen=True)
class Template:
    """A word problem with variables; see the module docstring for the placeholder syntax.

    `variables` maps a name to an inclusive range `(lo, hi)`, a stepped range `(lo, hi, step)` or
    a list of choices.
    """

    name: str
    steps: int
    question: str
    solution: str
    answer: str
    variables: dict[str, VarSpec]
    constraints: tuple[str, ...] = ()

    @property
    def person_slots(self) -> tuple[str, ...]:
        text = self.question + self.solution
        return tuple(s for s in ("name", "name2") if "{" + s + "}" in text)


_EXPR_RE = re.compile(r"\[\[(.+?)\]\]")
_PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")


def _t(name: str, steps: int, question: str, solution: str, answer: str,
       constraints: tuple[str, ...] = (), **variables: VarSpec) -> Template:
    return Template(name, steps, question, solution, answer, dict(variables), constraints)


# Written for tunelens; not taken from any benchmark. Numbers stay small on purpose.
TEMPLATES: tuple[Template, ...] = (
    # ---- one step
    _t("pencils_bought", 1,
       "{name} has {a} pencils. {He} buys {b} more pencils at the shop. "
       "How many pencils does {name} have now?",
       "{name} had {a} pencils and bought {b} more, so {he} has {a} + {b} = [[a + b]] pencils.",
       "a + b", a=(3, 30), b=(2, 20)),
    _t("cookies_left", 1,
       "{name} baked {a} cookies. {His} friends ate {b} of them. How many cookies are left?",
       "There were {a} cookies and {b} were eaten, so {a} - {b} = [[a - b]] cookies are left.",
       "a - b", ("b < a",), a=(10, 40), b=(2, 15)),
    _t("apple_boxes", 1,
       "There are {a} boxes with {b} apples in each box. How many apples are there in total?",
       "Each of the {a} boxes has {b} apples, so there are {a} * {b} = [[a * b]] apples.",
       "a * b", a=(2, 9), b=(3, 12)),
    _t("stickers_shared", 1,
       "{name} has [[k * q]] stickers and shares them equally among {k} friends. "
       "How many stickers does each friend get?",
       "{name} splits [[k * q]] stickers among {k} friends, so each gets "
       "[[k * q]] / {k} = [[q]] stickers.",
       "q", k=(2, 8), q=(2, 12)),
    _t("bus_passengers", 1,
       "A bus has {a} passengers. At the next stop, {b} more people get on. "
       "How many passengers are on the bus now?",
       "The bus had {a} passengers and {b} got on, so now it has {a} + {b} = [[a + b]].",
       "a + b", a=(5, 40), b=(2, 15)),
    _t("marbles_lost", 1,
       "{name} had {a} marbles and lost {b} of them at the park. "
       "How many marbles does {he} have left?",
       "{name} had {a} marbles and lost {b}, so {he} has {a} - {b} = [[a - b]] marbles left.",
       "a - b", ("b < a",), a=(12, 50), b=(2, 11)),
    _t("chair_rows", 1,
       "A classroom has {a} rows of chairs with {b} chairs in each row. "
       "How many chairs are in the classroom?",
       "There are {a} rows of {b} chairs, so {a} * {b} = [[a * b]] chairs.",
       "a * b", a=(2, 8), b=(3, 9)),
    _t("pages_per_day", 1,
       "{name} reads {a} pages every day. How many pages does {he} read in {d} days?",
       "{name} reads {a} pages a day for {d} days, so {a} * {d} = [[a * d]] pages.",
       "a * d", a=(5, 25), d=(2, 7)),
    _t("ribbon_pieces", 1,
       "A ribbon is [[n * p]] centimetres long. {name} cuts it into {n} equal pieces. "
       "How many centimetres long is each piece?",
       "The ribbon is [[n * p]] cm and is cut into {n} pieces, so each piece is "
       "[[n * p]] / {n} = [[p]] cm.",
       "p", n=(2, 6), p=(3, 15)),
    _t("piggy_bank", 1,
       "{name} had {a} dollars in {his} piggy bank and put in {b} more dollars. "
       "How many dollars are in the piggy bank now?",
       "There were {a} dollars and {name} added {b}, so there are {a} + {b} = [[a + b]] dollars.",
       "a + b", a=(5, 60), b=(3, 25)),
    _t("egg_cartons", 1,
       "A farmer has [[c * k]] eggs and packs them into cartons that hold {k} eggs each. "
       "How many cartons does the farmer fill?",
       "[[c * k]] eggs in cartons of {k} fill [[c * k]] / {k} = [[c]] cartons.",
       "c", c=(2, 12), k=[6, 10, 12]),
    _t("birds_fence", 1,
       "There are {a} birds on a fence. {b} birds fly away. "
       "How many birds are still on the fence?",
       "{a} birds minus the {b} that flew away leaves {a} - {b} = [[a - b]] birds.",
       "a - b", ("b < a",), a=(8, 30), b=(2, 7)),
    _t("toy_cars_cost", 1,
       "One toy car costs {p} dollars. How many dollars do {n} toy cars cost?",
       "Each car costs {p} dollars, so {n} cars cost {n} * {p} = [[n * p]] dollars.",
       "n * p", p=(2, 9), n=(2, 9)),
    # ---- two steps
    _t("pencils_given", 2,
       "{name} has {a} pencils. {He} buys {b} more and then gives {c} to {name2}. "
       "How many pencils does {name} have now?",
       "After buying, {name} has {a} + {b} = [[a + b]] pencils. After giving {c} away, "
       "{he} has [[a + b]] - {c} = [[a + b - c]] pencils.",
       "a + b - c", a=(3, 20), b=(2, 12), c=(2, 10)),
    _t("apple_bags_eaten", 2,
       "{name} picks {a} bags of apples with {b} apples in each bag. {He} eats {c} apples. "
       "How many apples are left?",
       "{name} picks {a} * {b} = [[a * b]] apples. After eating {c}, [[a * b]] - {c} = "
       "[[a * b - c]] apples are left.",
       "a * b - c", a=(2, 6), b=(4, 10), c=(1, 6)),
    _t("notebook_change", 2,
       "{name} buys {n} notebooks that cost {p} dollars each. {He} pays with a {m}-dollar bill. "
       "How many dollars of change does {he} get?",
       "The notebooks cost {n} * {p} = [[n * p]] dollars. The change is {m} - [[n * p]] = "
       "[[m - n * p]] dollars.",
       "m - n * p", n=(2, 6), p=(2, 8), m=[20, 50, 100]),
    _t("shelf_books_donated", 2,
       "One shelf holds {a} books and another holds {b} books. {name} donates {c} of the books. "
       "How many books are left on the two shelves?",
       "Together the shelves hold {a} + {b} = [[a + b]] books. After donating {c}, "
       "[[a + b]] - {c} = [[a + b - c]] books are left.",
       "a + b - c", a=(8, 30), b=(8, 30), c=(3, 15)),
    _t("weekly_savings", 2,
       "{name} saves {a} dollars each week. After {w} weeks, {he} spends {b} dollars on a game. "
       "How many dollars does {he} have left?",
       "In {w} weeks {name} saves {a} * {w} = [[a * w]] dollars. After the game, {he} has "
       "[[a * w]] - {b} = [[a * w - b]] dollars.",
       "a * w - b", a=(3, 10), w=(3, 8), b=(5, 20)),
    _t("garden_flowers", 2,
       "A garden has {r} rows of {p} tulips and {d} daisies. How many flowers are in the garden?",
       "There are {r} * {p} = [[r * p]] tulips. With the daisies that is [[r * p]] + {d} = "
       "[[r * p + d]] flowers.",
       "r * p + d", r=(2, 6), p=(3, 9), d=(2, 15)),
    _t("fruit_twice", 2,
       "A basket has {a} oranges and twice as many bananas. "
       "How many pieces of fruit are in the basket?",
       "There are 2 * {a} = [[2 * a]] bananas, so {a} + [[2 * a]] = [[3 * a]] pieces of fruit.",
       "3 * a", a=(2, 15)),
    _t("class_teams", 2,
       "There are {g} girls and {b} boys in a class. The teacher splits them into teams of {k}. "
       "How many teams are there?",
       "There are {g} + {b} = [[g + b]] children. In teams of {k} that makes "
       "[[g + b]] / {k} = [[(g + b) / k]] teams.",
       "(g + b) / k", g=(5, 16), b=(5, 16), k=[2, 3, 4, 5]),
    _t("muffins_sold", 2,
       "{name} bakes {t} trays of {m} muffins. {He} sells {s} muffins. "
       "How many muffins are left?",
       "{name} bakes {t} * {m} = [[t * m]] muffins. After selling {s}, [[t * m]] - {s} = "
       "[[t * m - s]] are left.",
       "t * m - s", t=(2, 5), m=(6, 12), s=(3, 10)),
    _t("book_pages_left", 2,
       "A book has {p} pages. {name} read {a} pages on Monday and {b} pages on Tuesday. "
       "How many pages are left to read?",
       "{name} read {a} + {b} = [[a + b]] pages, so {p} - [[a + b]] = [[p - a - b]] are left.",
       "p - a - b", p=(40, 120), a=(5, 30), b=(5, 30)),
    _t("pizza_slices", 2,
       "{name} orders {n} pizzas, and each pizza is cut into {s} slices. {name} and {his} "
       "friends eat {e} slices. How many slices are left?",
       "There are {n} * {s} = [[n * s]] slices. After eating {e}, [[n * s]] - {e} = "
       "[[n * s - e]] slices are left.",
       "n * s - e", n=(2, 5), s=[6, 8, 10], e=(3, 12)),
    _t("car_trip", 2,
       "A car travels {v} kilometres each hour for {h} hours, and then another {x} kilometres. "
       "How many kilometres does it travel in total?",
       "In {h} hours it travels {v} * {h} = [[v * h]] km. Adding {x} km gives "
       "[[v * h]] + {x} = [[v * h + x]] km.",
       "v * h + x", v=(30, 90, 10), h=(2, 5), x=(5, 40)),
    _t("candy_shared", 2,
       "{name} has {a} candies and {name2} has {b} candies. They put them together and share "
       "them equally between the two of them. How many candies does each get?",
       "Together they have {a} + {b} = [[a + b]] candies. Shared between 2, each gets "
       "[[a + b]] / 2 = [[(a + b) / 2]] candies.",
       "(a + b) / 2", a=(3, 25), b=(3, 25)),
    _t("stamps_more", 2,
       "{name} has {a} stamps. {name2} has {b} more stamps than {name}. "
       "How many stamps do they have together?",
       "{name2} has {a} + {b} = [[a + b]] stamps. Together they have {a} + [[a + b]] = "
       "[[2 * a + b]] stamps.",
       "2 * a + b", a=(5, 30), b=(2, 15)),
    _t("school_buses", 2,
       "[[c * k]] students go on a trip. Each bus carries {c} students and every bus is full. "
       "One more bus carries the teachers. How many buses are there?",
       "The students fill [[c * k]] / {c} = [[k]] buses. With the teachers' bus that is "
       "[[k]] + 1 = [[k + 1]] buses.",
       "k + 1", c=[10, 20, 25, 30], k=(2, 6)),
    _t("garden_fence", 2,
       "A rectangular garden is {l} metres long and {w} metres wide. How many metres of fence "
       "are needed to go all the way around it?",
       "One length and one width make {l} + {w} = [[l + w]] metres. All the way around is "
       "2 * [[l + w]] = [[2 * (l + w)]] metres.",
       "2 * (l + w)", ("w < l",), l=(4, 20), w=(2, 15)),
    _t("daily_pay_bonus", 2,
       "{name} earns {a} dollars a day for {d} days and then gets a bonus of {b} dollars. "
       "How many dollars does {he} earn in total?",
       "For {d} days {name} earns {a} * {d} = [[a * d]] dollars. With the bonus that is "
       "[[a * d]] + {b} = [[a * d + b]] dollars.",
       "a * d + b", a=(5, 20), d=(2, 6), b=(5, 30)),
    _t("cupcake_boxes", 2,
       "{name} made {a} chocolate cupcakes and {b} vanilla cupcakes. {He} puts them in boxes "
       "of {k}. How many boxes does {he} fill?",
       "{name} made {a} + {b} = [[a + b]] cupcakes. In boxes of {k} that fills "
       "[[a + b]] / {k} = [[(a + b) / k]] boxes.",
       "(a + b) / k", a=(4, 20), b=(4, 20), k=[2, 4, 6]),
    _t("library_books", 2,
       "The library had {a} books. It bought {b} new books and gave away {c} old books. "
       "How many books does the library have now?",
       "After buying, it had {a} + {b} = [[a + b]] books. After giving {c} away, it has "
       "[[a + b]] - {c} = [[a + b - c]] books.",
       "a + b - c", a=(40, 200), b=(5, 40), c=(5, 30)),
    _t("reading_plan", 2,
       "A book has {p} pages. {name} reads {a} pages a day for {d} days. "
       "How many pages are still unread?",
       "{name} reads {a} * {d} = [[a * d]] pages, so {p} - [[a * d]] = [[p - a * d]] pages "
       "are unread.",
       "p - a * d", p=(60, 150), a=(5, 15), d=(2, 6)),
    _t("bike_savings_weeks", 2,
       "{name} wants a bike that costs {c} dollars. {He} has {h} dollars and saves {w} dollars "
       "each week. How many weeks must {he} save to have exactly enough?",
       "{name} still needs {c} - {h} = [[c - h]] dollars. At {w} dollars a week that takes "
       "[[c - h]] / {w} = [[(c - h) / w]] weeks.",
       "(c - h) / w", c=(60, 150, 5), h=(5, 40, 5), w=[5, 10, 15]),
    _t("trip_cost", 2,
       "{s} students go on a museum trip. The bus costs {b} dollars in total and each museum "
       "ticket costs {t} dollars. How many dollars does the trip cost altogether?",
       "The tickets cost {s} * {t} = [[s * t]] dollars. With the bus that is "
       "[[s * t]] + {b} = [[s * t + b]] dollars.",
       "s * t + b", s=(5, 25), b=(50, 200, 10), t=(2, 8)),
    _t("party_bags", 2,
       "{name} fills {n} party bags, each with {c} candies and {t} toys. "
       "How many items does {he} put in the bags in total?",
       "Each bag has {c} + {t} = [[c + t]] items, so {n} bags have {n} * [[c + t]] = "
       "[[n * (c + t)]] items.",
       "n * (c + t)", n=(2, 9), c=(2, 8), t=(1, 5)),
    _t("crates_of_jars", 2,
       "A truck carries {c} crates. Each crate holds {b} boxes, and each box holds {j} jars. "
       "How many jars does the truck carry?",
       "There are {c} * {b} = [[c * b]] boxes, so [[c * b]] * {j} = [[c * b * j]] jars.",
       "c * b * j", c=(2, 6), b=(2, 5), j=(2, 6)),
    _t("lemonade_stand", 2,
       "{name} makes {j} jugs of lemonade. Each jug fills {g} glasses, and {he} sells every "
       "glass for {p} dollars. How many dollars does {he} earn if {he} sells them all?",
       "{name} has {j} * {g} = [[j * g]] glasses, which earn [[j * g]] * {p} = [[j * g * p]] "
       "dollars.",
       "j * g * p", j=(2, 5), g=(3, 8), p=(1, 3)),
    _t("jar_money", 2,
       "{name} gets {a} dollars. {He} spends {s} dollars on lunch and splits the rest equally "
       "between {k} jars. How many dollars go in each jar?",
       "After lunch {name} has {a} - {s} = [[a - s]] dollars. Split between {k} jars that is "
       "[[a - s]] / {k} = [[(a - s) / k]] dollars per jar.",
       "(a - s) / k", a=(20, 60), s=(3, 15), k=[2, 3, 4]),
    _t("train_seats", 2,
       "A train has {c} cars with {s} seats in each car. {o} seats are taken. "
       "How many seats are empty?",
       "The train has {c} * {s} = [[c * s]] seats, so [[c * s]] - {o} = [[c * s - o]] are "
       "empty.",
       "c * s - o", c=(3, 8), s=(10, 30), o=(10, 60)),
    _t("brother_age", 2,
       "{name} is {a} years old. {His} brother is {d} years older. "
       "How old will the brother be in {y} years?",
       "The brother is {a} + {d} = [[a + d]] years old now, so in {y} years he will be "
       "[[a + d]] + {y} = [[a + d + y]].",
       "a + d + y", a=(4, 15), d=(1, 9), y=(2, 10)),
    # ---- three steps
    _t("movie_tickets", 3,
       "An adult ticket costs {a} dollars and a child ticket costs {c} dollars. "
       "How many dollars do {na} adult tickets and {nc} child tickets cost?",
       "The adult tickets cost {na} * {a} = [[na * a]] dollars. The child tickets cost "
       "{nc} * {c} = [[nc * c]] dollars. Together that is [[na * a]] + [[nc * c]] = "
       "[[na * a + nc * c]] dollars.",
       "na * a + nc * c", ("c < a",), a=(6, 15), c=(3, 9), na=(1, 4), nc=(1, 5)),
    _t("melon_profit", 3,
       "{name} buys {n} melons for {c} dollars each and sells all of them for {s} dollars each. "
       "How many dollars of profit does {he} make?",
       "Buying costs {n} * {c} = [[n * c]] dollars. Selling brings {n} * {s} = [[n * s]] "
       "dollars. The profit is [[n * s]] - [[n * c]] = [[n * (s - c)]] dollars.",
       "n * (s - c)", ("c < s",), n=(3, 12), c=(2, 6), s=(4, 10)),
    _t("crayons_left", 3,
       "A teacher has {k} boxes of {p} crayons. She gives {g} crayons to each of {s} students. "
       "How many crayons are left?",
       "The teacher has {k} * {p} = [[k * p]] crayons. She gives away {g} * {s} = [[g * s]] "
       "crayons, so [[k * p]] - [[g * s]] = [[k * p - g * s]] are left.",
       "k * p - g * s", k=(2, 6), p=(8, 24, 4), g=(2, 4), s=(3, 10)),
    _t("bakery_week", 3,
       "A bakery makes {a} loaves of bread on each of the 5 weekdays and {b} loaves on each of "
       "the 2 weekend days. How many loaves does it make in one week?",
       "On weekdays it makes 5 * {a} = [[5 * a]] loaves. On the weekend it makes 2 * {b} = "
       "[[2 * b]] loaves. In total that is [[5 * a]] + [[2 * b]] = [[5 * a + 2 * b]] loaves.",
       "5 * a + 2 * b", a=(10, 40), b=(5, 30)),
    _t("fruit_stand", 3,
       "{name} sells {a} apples for {p} dollars each and {b} pears for {q} dollars each. "
       "How many dollars does {he} earn in total?",
       "The apples bring {a} * {p} = [[a * p]] dollars and the pears {b} * {q} = [[b * q]] "
       "dollars. In total that is [[a * p]] + [[b * q]] = [[a * p + b * q]] dollars.",
       "a * p + b * q", a=(3, 12), p=(1, 4), b=(2, 10), q=(2, 5)),
    _t("laps_twice", 3,
       "{name} runs {l} laps on Monday and twice as many laps on Tuesday. Each lap is {m} "
       "metres. How many metres does {he} run on the two days?",
       "On Tuesday {name} runs 2 * {l} = [[2 * l]] laps, so {l} + [[2 * l]] = [[3 * l]] laps "
       "in all. That is [[3 * l]] * {m} = [[3 * l * m]] metres.",
       "3 * l * m", l=(2, 8), m=(100, 400, 100)),
    _t("carrots_half", 3,
       "{name} plants {r} rows of {c} carrots. A rabbit eats {e} carrots, and {name} picks "
       "half of the rest. How many carrots does {he} pick?",
       "There are {r} * {c} = [[r * c]] carrots. After the rabbit, [[r * c]] - {e} = "
       "[[r * c - e]] are left. Half of them is [[r * c - e]] / 2 = [[(r * c - e) / 2]].",
       "(r * c - e) / 2", r=(2, 6), c=(4, 10), e=(1, 9)),
    _t("bike_wheels", 3,
       "A shop has {b} bicycles and {t} tricycles. How many wheels are there in total?",
       "The bicycles have 2 * {b} = [[2 * b]] wheels and the tricycles have 3 * {t} = "
       "[[3 * t]] wheels. In total there are [[2 * b]] + [[3 * t]] = [[2 * b + 3 * t]] wheels.",
       "2 * b + 3 * t", b=(2, 12), t=(2, 10)),
    _t("paint_cans", 3,
       "A room has {w} walls. Each wall needs {c} cans of paint, one can costs {p} dollars, "
       "and a brush costs {r} dollars. How many dollars do the paint and one brush cost?",
       "The walls need {w} * {c} = [[w * c]] cans. They cost [[w * c]] * {p} = [[w * c * p]] "
       "dollars. With the brush that is [[w * c * p]] + {r} = [[w * c * p + r]] dollars.",
       "w * c * p + r", w=(2, 4), c=(2, 3), p=(5, 15), r=(2, 8)),
    _t("aquarium_fish", 3,
       "An aquarium has {a} red fish and {b} blue fish. {name} adds {c} yellow fish and then "
       "moves {d} fish to a pond. How many fish are in the aquarium now?",
       "At first there are {a} + {b} = [[a + b]] fish. After adding {c}, there are "
       "[[a + b]] + {c} = [[a + b + c]]. After moving {d}, [[a + b + c]] - {d} = "
       "[[a + b + c - d]] fish are left.",
       "a + b + c - d", a=(3, 15), b=(3, 15), c=(2, 8), d=(2, 10)),
    _t("snack_budget", 3,
       "{name} has {m} dollars. {He} buys {n} sandwiches for {s} dollars each and a juice for "
       "{j} dollars. How many dollars does {he} have left?",
       "The sandwiches cost {n} * {s} = [[n * s]] dollars. With the juice that is "
       "[[n * s]] + {j} = [[n * s + j]] dollars. {name} has {m} - [[n * s + j]] = "
       "[[m - n * s - j]] dollars left.",
       "m - n * s - j", m=[20, 30, 40, 50], n=(2, 4), s=(3, 7), j=(1, 4)),
)

_BY_NAME = {t.name: t for t in TEMPLATES}
if len(_BY_NAME) != len(TEMPLATES):  # pragma: no cover - guards editing mistakes
    raise RuntimeError("duplicate template names")


def get_template(name: str) -> Template:
    """Look a template up by name (KeyError naming the known ones if absent)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown template {name!r}; known: {', '.join(sorted(_BY_NAME))}") from None


# --------------------------------------------------------------------------- instantiation


def _draw(spec: VarSpec, rng: random.Random) -> int:
    if isinstance(spec, list):
        return rng.choice(spec)
    if len(spec) == 3:
        lo, hi, step = spec  # type: ignore[misc]
        return rng.randrange(lo, hi + 1, step)
    lo, hi = spec[0], spec[1]
    return rng.randint(lo, hi)


def _person_values(slot: str, name: str, gender: str) -> dict[str, str]:
    suffix = "" if slot == "name" else slot[len("name"):]
    out = {slot: name}
    for key, word in _PRONOUNS[gender].items():
        out[key + suffix] = word
        out[key.capitalize() + suffix] = word.capitalize()
    return out


def _render(text: str, values: Mapping[str, int], words: Mapping[str, str]) -> str | None:
    """Fill a template text; None if an [[expr]] is not a positive integer."""
    failed = False

    def expr_sub(match: re.Match[str]) -> str:
        nonlocal failed
        result = evaluate(match.group(1), values)
        if result.denominator != 1 or result <= 0:
            failed = True
        return format_number(result)

    filled = _EXPR_RE.sub(expr_sub, text)
    if failed:
        return None

    def var_sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in words:
            return words[key]
        if key in values:
            return str(values[key])
        raise KeyError(f"unknown placeholder {{{key}}}")

    return _PLACEHOLDER_RE.sub(var_sub, filled)


def _try_values(template: Template, values: dict[str, int],
                people: dict[str, tuple[str, str]]) -> Item | None:
    for constraint in template.constraints:
        if evaluate(constraint, values) == 0:
            return None
    answer = evaluate(template.answer, values)
    if answer.denominator != 1 or answer <= 0:
        return None
    words: dict[str, str] = {"answer": str(answer.numerator)}
    for slot, (person, gender) in people.items():
        words.update(_person_values(slot, person, gender))
    question = _render(template.question, values, words)
    solution = _render(template.solution, values, words)
    if question is None or solution is None:
        return None
    return Item(
        dataset=DATASET,
        item_id="",
        question=question,
        gold=str(answer.numerator),
        answer_type="number",
        solution=f"{solution} The answer is {answer.numerator}.",
        fields={
            "template": template.name,
            "steps": template.steps,
            "values": dict(values),
            "names": {slot: person for slot, (person, _) in people.items()},
            "genders": {slot: gender for slot, (_, gender) in people.items()},
        },
    )


def instantiate(
    template: Template | str,
    seed: int,
    *,
    names: Mapping[str, str] | None = None,
    max_attempts: int = 2000,
) -> Item:
    """A fresh instantiation of `template` for `seed`, with an exact positive-integer answer.

    Deterministic: attempt k draws from a RNG seeded by (template, seed, k) until every
    constraint holds. `names` pins person slots (slot -> name from FEMALE_NAMES/MALE_NAMES),
    which the `numbers` perturbation uses to change only the numbers. The item id is
    `embedded-<template>` for seed 0 (the default item) and `embedded-<template>-s<seed>` else.
    """
    tmpl = get_template(template) if isinstance(template, str) else template
    slots = tmpl.person_slots
    for attempt in range(max_attempts):
        rng = random.Random(stable_int("template", tmpl.name, seed, attempt))
        values = {var: _draw(spec, rng) for var, spec in tmpl.variables.items()}
        people: dict[str, tuple[str, str]] = {}
        taken: set[str] = set()
        for slot in slots:
            if names and slot in names:
                person = names[slot]
                gender = "f" if person in FEMALE_NAMES else "m"
            else:
                gender = rng.choice(("f", "m"))
                pool = [n for n in (FEMALE_NAMES if gender == "f" else MALE_NAMES)
                        if n not in taken and n not in (names or {}).values()]
                person = rng.choice(pool)
            taken.add(person)
            people[slot] = (person, gender)
        item = _try_values(tmpl, values, people)
        if item is not None:
            item_id = f"{DATASET}-{tmpl.name}" if seed == 0 else f"{DATASET}-{tmpl.name}-s{seed}"
            fields = {**item.fields, "template_seed": seed}
            return Item(
                dataset=item.dataset, item_id=item_id, question=item.question, gold=item.gold,
                answer_type=item.answer_type, solution=item.solution, fields=fields,
            )
    raise RuntimeError(f"template {tmpl.name!r} found no valid values for seed {seed}")


DEFAULT_TEMPLATES: tuple[str, ...] = tuple(t.name for t in TEMPLATES)


def default_items(limit: int | None = None, names: Sequence[str] | None = None) -> list[Item]:
    """The embedded default dataset: one item per template (seed 0), in template order."""
    chosen = list(names) if names is not None else list(DEFAULT_TEMPLATES)
    items = [instantiate(name, 0) for name in chosen]
    return items[:limit] if limit is not None else items

