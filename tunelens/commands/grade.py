"""`tunelens grade`: grade another tool's outputs the way tunelens grades its own."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable

from engine.errors import UsageError
from engine.grading import grade_jsonl_records
from tunelens.options import command_parser


def cmd_grade(argv: list[str]) -> int:
    p = command_parser(
        "grade",
        "Grade outputs from any tool: each input line is a JSON record with `output` and `gold` "
        "(optional: id, grader, answer_type, lower_limit, upper_limit). Prints one JSON line per "
        "record with `correct`, `extracted`, `rule` and `grader`.",
    )
    p.add_argument("file", help="JSONL file, or - for standard input")
    p.add_argument("--grader", help="force a grader (gsm8k, medcalc, math-verify)")
    args = p.parse_args(argv)
    # Bytes, decoded line by line by the grader: a line that is not UTF-8 is named with its number.
    if args.file == "-":
        _print_grades(sys.stdin.buffer, "<stdin>", args.grader)
        return 0
    try:
        fh = open(args.file, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"{args.file}: {exc.strerror}") from None
    with fh:
        _print_grades(fh, args.file, args.grader)
    return 0


def _print_grades(lines: Iterable[bytes], source: str, grader: str | None) -> None:
    for rec in grade_jsonl_records(lines, source=source, grader=grader):
        print(json.dumps(rec, default=str))
