"""A small store that exercises every report table, and every output the report can give of it.

Why: the report's computation was rewritten for speed (issue 14) and must give the same figures
as before. `outputs()` renders the store every way a user can ask for (each format, --pass-k,
--grader, --run/--dataset filters, --resamples/--seed, a csv directory, plots, the presets'
tables); tests/fixtures/report_reference/ holds those outputs as main's code wrote them, and
tests/test_report_reference.py compares the current code's outputs to them byte for byte.

    PYTHONPATH=. python tests/report_reference.py --write tests/fixtures/report_reference

rewrites the fixture (only when a change of figures is intended and explained in the commit).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import os
import random
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

T0 = datetime(2026, 1, 1, 12, 0, 0)
WIDTH = "160"  # terminal width for the rich tables (COLUMNS)


def _run(store: Any, run_id: str, strategy: str, when: datetime, pair: str = "p") -> None:
    store.start_run(
        {"run_id": run_id, "config_hash": run_id, "kind": "headless", "pair": pair,
         "dataset": "d0", "modes": ["zero-shot-cot", "few-shot-cot"],
         "perturbations": ["numbers"], "strategy": strategy, "started_at": when}
    )  # fmt: skip
    store.finish_run(run_id, "completed")


def _gen(run_id: str, dataset: str, item: str, role: str, mode: str, ok: bool, *,
         chat: bool | None = None, original_id: str | None = None,
         perturbation: str | None = None, strategy: str = "greedy", sample_index: int = 0,
         extracted: str | None = None, score: float | None = None,
         when: datetime = T0) -> dict[str, Any]:  # fmt: skip
    from engine.store.store import generation_key

    shots = 4 if mode == "few-shot-cot" else 0
    chat = (role == "instruct") if chat is None else chat
    key = generation_key(run_id, f"{dataset}/{item}", role + ("" if chat or role == "base"
                         else "-raw"), mode, shots, chat, strategy, sample_index)
    ext = extracted if extracted is not None else ("1" if ok else "2")
    return {
        "generation_id": key, "run_id": run_id, "dataset": dataset, "item_id": item,
        "original_id": original_id, "perturbation": perturbation, "role": role,
        "model_name": f"{role}-model", "model_sha256": f"sha-{role}", "mode": mode,
        "shots": shots, "chat_template": chat, "strategy": strategy,
        "sample_index": sample_index, "prompt": "Q", "output": f"The answer is {ext}.",
        "output_token_ids": [1, 2, 3], "extracted": ext, "correct": ok, "grader": "gsm8k",
        "grader_rule": "answer-is", "tokens": 3, "finish_reason": "stop", "score": score,
        "created_at": when,
    }  # fmt: skip


def build_store(path: Path, order_seed: int = 7) -> Any:
    """Greedy runs over six datasets (convergence), a perturbation, instruct without its chat
    template, a re-run (de-duplication), sampling and CoT-decoding runs (pass@k, maj@n,
    best-path), a second grader (agreement) and token shift rows. Verdicts are drawn from a
    seeded generator; rows are inserted in an order shuffled by `order_seed` (the figures must not
    depend on it)."""
    from engine.store.store import Store

    rng = random.Random(20260101)
    store = Store(path)
    _run(store, "r0", "greedy", T0 - timedelta(hours=1))
    _run(store, "r1", "greedy", T0)
    _run(store, "rs", "sample", T0 + timedelta(hours=1))
    _run(store, "rc", "cot-decoding", T0 + timedelta(hours=2))
    _run(store, "q1", "greedy", T0 + timedelta(hours=3), pair="q")
    rows: list[dict[str, Any]] = []
    skill = {"base": 0.35, "instruct": 0.6}
    for t in range(6):
        dataset = f"d{t}"
        n_items = 60 if t == 0 else 12
        ease = 0.1 * t
        for i in range(n_items):
            item = f"{dataset}q{i:02d}"
            for mode, bonus in (("zero-shot-cot", 0.0), ("few-shot-cot", 0.15)):
                for role in ("base", "instruct"):
                    p = skill[role] + bonus + ease - (0.2 if role == "instruct" and
                                                      mode == "few-shot-cot" else 0.0)
                    rows.append(_gen("r1", dataset, item, role, mode, rng.random() < p))
                    if t == 0:
                        rows.append(_gen("r1", dataset, f"{item}~numbers", role, mode,
                                         rng.random() < p - 0.15, original_id=item,
                                         perturbation="numbers"))
                if t == 0 and i % 2 == 0:  # instruct without its chat template
                    rows.append(_gen("r1", dataset, item, "instruct", mode,
                                     rng.random() < 0.4, chat=False))
            if t == 0 and i < 15:  # an older run of the same questions: left out as duplicates
                rows.append(_gen("r0", dataset, item, "base", "zero-shot-cot",
                                 rng.random() < 0.5, when=T0 - timedelta(hours=1)))
    for i in range(20):  # sampling (instruct) and CoT-decoding (base), 4 answers each
        item = f"d0q{i:02d}"
        for s in range(4):
            ok = rng.random() < 0.5
            ext = "1" if ok else rng.choice(["2", "2.0", "$2", "7", ""])
            rows.append(_gen("rs", "d0", item, "instruct", "zero-shot-cot", ok,
                             strategy="sample", sample_index=s, extracted=ext,
                             when=T0 + timedelta(hours=1)))
            score = None if rng.random() < 0.2 else round(rng.random(), 3)
            rows.append(_gen("rc", "d0", item, "base", "zero-shot-cot", rng.random() < 0.4,
                             strategy="cot-decoding", sample_index=s, score=score,
                             when=T0 + timedelta(hours=2)))
    for i in range(8):  # another pair
        for role in ("base", "instruct"):
            rows.append(_gen("q1", "d1", f"d1q{i:02d}", role, "zero-shot-cot",
                             rng.random() < 0.5, when=T0 + timedelta(hours=3)))
    random.Random(order_seed).shuffle(rows)
    for k in range(0, len(rows), 97):
        store.insert_generations(rows[k : k + 97])
    grades = []
    rows.sort(key=lambda r: r["generation_id"])  # the rest draws the same numbers in any order
    for r in rows:
        if r["dataset"] == "d0" and r["strategy"] == "greedy" and rng.random() < 0.7:
            flip = rng.random() < 0.12
            grades.append({"generation_id": r["generation_id"], "grader": "math-verify",
                           "extracted": r["extracted"], "correct": r["correct"] != flip,
                           "rule": "error" if rng.random() < 0.03 else "verify",
                           "detail": ""})
    store.insert_grades(grades)
    shift = []
    instruct = [r for r in rows if r["role"] == "instruct" and r["strategy"] == "greedy"
                and r["dataset"] in ("d0", "d1") and r["chat_template"]]
    for r in instruct[:40]:
        for pos in range(rng.randint(3, 30)):
            rank = rng.choice([1, 1, 1, 1, 2, 3, 4, 9, 40])
            shift.append({"generation_id": r["generation_id"], "position": pos,
                          "token_id": rng.randint(0, 50), "token": rng.choice(
                              ["The", " answer", " is", " 1", ".", "<0xE2>", " Sure", "!"]),
                          "rank": rank, "prob": round(rng.random(), 4),
                          "base_top_id": 3, "base_top": rng.choice([" So", " Let", " 2"]),
                          "base_top_prob": 0.5,
                          "shift": "unshifted" if rank == 1 else "marginal" if rank <= 3
                          else "shifted", "scorer_sha256": "s"})
    store.insert_token_shift(shift)
    return store


REPORTS: dict[str, list[str]] = {
    "default": [],
    "pass-k": ["--pass-k", "2,3"],
    "grader": ["--grader", "math-verify"],
    "run-dataset": ["--run", "r1", "--run", "rs", "--dataset", "d0"],
    "pair-q": ["--pair", "q"],
    "seed": ["--resamples", "500", "--seed", "7"],
}
FORMATS = ("table", "json", "csv", "markdown")


def _cli(argv: list[str]) -> str:
    from tunelens.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        main(argv)
    return out.getvalue()


def outputs(db: Path, work: Path) -> dict[str, bytes]:
    """name -> bytes of every output (plots as sha256 digests: the fixture stays small)."""
    from engine.analysis import preset_table
    from engine.render import tables_csv, tables_json, tables_markdown
    from engine.run.presets import PRESETS
    from engine.store.store import Store

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        out: dict[str, bytes] = {}
        for name, args in REPORTS.items():
            for fmt in FORMATS:
                if name != "default" and fmt in ("table", "csv"):
                    continue
                out[f"report-{name}.{fmt}"] = _cli(
                    ["report", "--db", str(db), "--format", fmt, *args]
                ).encode()
        csv_dir = work / "csv"
        _cli(["report", "--db", str(db), "--format", "csv", "--out", str(csv_dir)])
        for path in sorted(csv_dir.iterdir()):
            out[f"csvdir-{path.name}"] = path.read_bytes()
        plots = work / "plots"
        _cli(["report", "--db", str(db), "--format", "json", "--plot-dir", str(plots),
              "--pass-k", "2"])
        # PNGs are byte-stable; SVGs carry a date and random clip-path ids: names only.
        digests = [
            f"{hashlib.sha256(p.read_bytes()).hexdigest() if p.suffix == '.png' else '-'}  "
            f"{p.name}"
            for p in sorted(plots.iterdir())
        ]
        out["plots.sha256"] = ("\n".join(digests) + "\n").encode()
        store = Store(db)
        for preset, runs, samples in (("instruct-vs-base", ["r1"], None),
                                      ("instruct-vs-base-pass-k", ["rc", "rs"], 4)):
            table = preset_table(store, PRESETS[preset], runs, samples=samples).as_report_table()
            out[f"preset-{preset}.json"] = tables_json([table]).encode()
            out[f"preset-{preset}.markdown"] = tables_markdown([table], preset).encode()
            out[f"preset-{preset}.csv"] = tables_csv([table]).encode()
        return out
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", metavar="DIR", required=True)
    args = p.parse_args()
    target = Path(args.write)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ref.duckdb"
        build_store(db)
        for name, data in outputs(db, Path(tmp)).items():
            path = write_reference(target, name, data)
            print(f"wrote {path}", file=sys.stderr)


GZIP_OVER = 32_000  # bytes: larger outputs are kept gzipped in the fixture


def write_reference(target: Path, name: str, data: bytes) -> Path:
    if len(data) <= GZIP_OVER:
        path = target / name
        path.write_bytes(data)
    else:
        path = target / f"{name}.gz"
        path.write_bytes(gzip.compress(data, mtime=0))
    return path


def read_reference(target: Path) -> dict[str, bytes]:
    out = {}
    for path in sorted(target.iterdir()):
        if path.suffix == ".gz":
            out[path.name[:-3]] = gzip.decompress(path.read_bytes())
        else:
            out[path.name] = path.read_bytes()
    return out


if __name__ == "__main__":
    main()
