"""Agreement of the rule graders with hand labels: `python -m benchmarks.grading_agreement`.

The labelled cases in tests/data/grading/*.jsonl (question, gold, output, style, label, note) were
written as a careful human grades, before the rules. Each file is graded by the dataset's default
grader (gsm8k.jsonl: gsm8k; math.jsonl: math-verify) and, for reference, by math-verify alone on
the whole output (what `verify(parse(gold), parse(output))` says, last box of a run-on included).

`--against PATH` grades the same cases with the engine of another checkout (e.g. /work/main, the
old grader) in a child process and prints its column beside this tree's. `--misses` lists the
cases where this tree's grader disagrees with the label.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

CASES_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "grading"
GRADER_OF_FILE = {"gsm8k.jsonl": "gsm8k", "math.jsonl": "math-verify"}


def load_cases(cases_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """File name -> its cases, in file order."""
    out = {}
    for name in GRADER_OF_FILE:
        path = cases_dir / name
        out[name] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                     if line.strip()]
    return out


def _raw_math_verify(gold: str, output: str) -> bool:
    """math-verify alone on the whole output (main thread: its own signal timeouts work)."""
    from math_verify import parse, verify

    try:
        return bool(verify(parse(f"${gold}$"), parse(output)))
    except Exception:
        return False


def grade_cases(cases_dir: Path, raw: bool) -> dict[str, list[dict[str, Any]]]:
    """Grade every case with the default grader of its file; one verdict dict per case."""
    from engine.grading import grade
    from engine.records import Item

    results: dict[str, list[dict[str, Any]]] = {}
    for name, cases in load_cases(cases_dir).items():
        grader = GRADER_OF_FILE[name]
        rows = []
        for i, case in enumerate(cases):
            item = Item("file", f"{name}-{i}", case["question"], case["gold"],
                        answer_type="number" if grader == "gsm8k" else "text")
            g = grade(item, case["output"], grader)
            row = {"correct": bool(g.correct), "extracted": g.extracted, "rule": g.rule}
            if raw:
                row["raw"] = _raw_math_verify(case["gold"], case["output"])
            rows.append(row)
        results[name] = rows
    return results


def _agreement(cases: list[dict[str, Any]], verdicts: list[bool]) -> float:
    return sum(v == c["label"] for c, v in zip(cases, verdicts, strict=True)) / len(cases)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--against", type=Path, help="another checkout to grade with (the old grader)")
    p.add_argument("--misses", action="store_true", help="list this tree's disagreements")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # child mode
    p.add_argument("--cases-dir", type=Path, default=CASES_DIR, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.json:
        print(json.dumps(grade_cases(args.cases_dir, raw=False)))
        return 0
    cases = load_cases(args.cases_dir)
    mine = grade_cases(args.cases_dir, raw=True)
    other = None
    if args.against is not None:
        env = dict(os.environ, PYTHONPATH=str(args.against.resolve()))
        child = subprocess.run(
            [sys.executable, "-P", str(Path(__file__).resolve()), "--json",
             "--cases-dir", str(args.cases_dir)],
            env=env, capture_output=True, text=True, check=True, cwd=str(args.against),
        )
        other = json.loads(child.stdout)
    header = f"{'cases':<14}{'style':<22}{'n':>4}  {'this tree':>9}"
    if other is not None:
        header += f"  {'--against':>9}"
    header += f"  {'math-verify alone':>17}"
    print(header)
    for name, rows in cases.items():
        by_style: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(rows):
            by_style[c["style"]].append(i)
        for style, idx in [("all", list(range(len(rows)))), *sorted(by_style.items())]:
            sub = [rows[i] for i in idx]
            line = f"{name:<14}{style:<22}{len(sub):>4}  "
            line += f"{_agreement(sub, [mine[name][i]['correct'] for i in idx]):>9.1%}"
            if other is not None:
                line += f"  {_agreement(sub, [other[name][i]['correct'] for i in idx]):>9.1%}"
            line += f"  {_agreement(sub, [mine[name][i]['raw'] for i in idx]):>17.1%}"
            print(line)
    if args.misses:
        for name, rows in cases.items():
            for c, v in zip(rows, mine[name], strict=True):
                if v["correct"] != c["label"]:
                    print(f"\n[{name}] label={c['label']} got={v['correct']} rule={v['rule']} "
                          f"extracted={v['extracted']!r} gold={c['gold']!r} ({c['note']})")
                    print("   " + c["output"][:300].replace("\n", "\n   "))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
