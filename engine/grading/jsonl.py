"""`tunelens grade FILE.jsonl`: grade records written by any tool, one JSON object per line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import Any, get_args

from engine.data.readers import not_utf8_line
from engine.errors import GradeInputError
from engine.grading.medcalc import gold_shape, limit_value
from engine.grading.registry import GRADERS, default_grader, grader_names
from engine.records import AnswerType, Item

_ANSWER_TYPES: frozenset[str] = frozenset(get_args(AnswerType))


def _one_line(s: str, limit: int = 120) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _record_id(rec: dict[str, Any], lineno: int) -> Any:
    return rec["id"] if rec.get("id") is not None else lineno


def _record_item(rec: dict[str, Any], lineno: int, fail: Callable[[str], GradeInputError]) -> Item:
    if "output" not in rec:
        raise fail("missing key 'output' (expected an object with 'output' and 'gold')")
    if not isinstance(rec["output"], str):
        raise fail(f"'output' must be a string, got {type(rec['output']).__name__}")
    if "gold" not in rec:
        raise fail("missing key 'gold' (expected an object with 'output' and 'gold')")
    gold = rec["gold"]
    if isinstance(gold, bool) or not isinstance(gold, str | int | float | list):
        raise fail(f"'gold' must be a string or a number, got {type(gold).__name__}")
    gold_text = gold if isinstance(gold, str) else json.dumps(gold)
    fields: dict[str, Any] = {}
    limits: list[Fraction] = []
    for key in ("lower_limit", "upper_limit"):
        value = rec.get(key)
        if value is None or value == "":
            continue
        limit = limit_value(value)
        # MedCalc's CSV repeats a date or gestational-age gold as its "limits": accept those.
        if limit is None and not (isinstance(value, str) and value.strip() == gold_text.strip()):
            raise fail(f"'{key}' must be a number, got {_one_line(repr(value), 40)}")
        fields[key] = value
        if limit is not None:
            limits.append(limit)
    answer_type = rec.get("answer_type")
    if answer_type is None:
        # Without a type: the gold's shape, else numeric limits mean a MedCalc-style answer.
        answer_type = gold_shape(gold_text) or "number"
        if answer_type == "number" and len(limits) == 2:
            answer_type = "decimal" if limits[0] != limits[1] else "integer"
    elif answer_type not in _ANSWER_TYPES:
        raise fail(
            f"unknown answer_type {_one_line(repr(answer_type), 40)} "
            f"(expected one of {', '.join(sorted(_ANSWER_TYPES))})"
        )
    return Item(
        dataset=str(rec.get("dataset") or "jsonl"),
        item_id=str(_record_id(rec, lineno)),
        question=str(rec.get("question") or ""),
        gold=gold_text,
        answer_type=answer_type,
        fields=fields,
    )


def grade_jsonl_records(
    lines: Iterable[str] | Iterable[bytes], source: str = "<stdin>", grader: str | None = None
) -> Iterator[dict[str, Any]]:
    """Grade JSON Lines records for `tunelens grade FILE.jsonl`, one result dict per record.

    Each line is an object with `output` and `gold`, optionally `id`, `grader`, `answer_type`,
    `lower_limit`, `upper_limit`, `dataset`. Grader choice: the `grader` argument (a command-line
    flag) overrides a record's `grader`, which overrides the default for the item. Limits without
    an `answer_type` mean a MedCalc-style answer (decimal, or integer when they are equal), and a
    gold like "(4 weeks, 3 days)" or "09/23/2014" implies its type. Blank lines are skipped.
    Each result keeps the record's keys except `output` and adds `id` (the line number if absent),
    `line`, `correct`, `extracted`, `rule`, `grader` and `detail`. A malformed line raises
    GradeInputError with a one-line "SOURCE:LINE: problem" message. Lines given as bytes are
    decoded here, so a line that is not UTF-8 is named too.
    """
    for lineno, raw in enumerate(lines, start=1):

        def fail(what: str, lineno: int = lineno) -> GradeInputError:
            return GradeInputError(f"{source}:{lineno}: {what}")

        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                raise fail(not_utf8_line(raw)) from None
        else:
            line = raw
        if not line.strip():
            continue

        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise fail(
                f"invalid JSON ({e.msg} at column {e.colno}); expected one object per line"
            ) from None
        if not isinstance(rec, dict):
            raise fail(f"expected a JSON object with 'output' and 'gold', got {type(rec).__name__}")
        item = _record_item(rec, lineno, fail)
        name = grader or rec.get("grader") or default_grader(item)
        if not isinstance(name, str) or name not in GRADERS:
            choices = grader_names()
            raise fail(f"unknown grader {_one_line(repr(name), 40)} (choose from {choices})")
        result = GRADERS[name](item, rec["output"])
        out = {k: v for k, v in rec.items() if k != "output"}
        out.update(
            id=_record_id(rec, lineno),
            line=lineno,
            correct=result.correct,
            extracted=result.extracted,
            rule=result.rule,
            grader=result.grader,
            detail=result.detail,
        )
        yield out
