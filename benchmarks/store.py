"""The results store: insert rate, and report time over a million generation rows.

    python -m benchmarks.store [--rows 1000000] [--insert-rows 4000]

Inserts go through `Store.insert_generations`, the same Arrow insert a run's journal replay does
(a headless run replays about 32 answers at a time, the app one; a bulk import sends thousands;
benchmarks/journal.py times the journal itself).
For the report, a temporary store is filled by SQL with `--rows` synthetic generations (4 runs,
base and instruct, 20% perturbed variants, one grade each) and timed: the run summary the
headless run ends with (engine.store.summary.SUMMARY_SQL), an accuracy-by-setting aggregate with the
report's de-duplication done in SQL, the old answers-into-Python loader (load_answers, still used
by the preset tables) and engine.analysis.build_report (the whole report, issue 14 section 2), in a
fresh subprocess with a time limit: wall seconds (best of `--report-repeat`) and the CPU seconds
of that process (all its threads), which say more than wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, header, median, table

ACCURACY_SQL = """
WITH latest AS (
    SELECT g.*, r.pair
    FROM generations g JOIN runs r USING (run_id)
    WHERE coalesce(g.finish_reason, '') <> 'cancelled'
    QUALIFY row_number() OVER (
        PARTITION BY r.pair, g.dataset, g.item_id, g.role, g.model_sha256, g.mode, g.shots,
                     g.chat_template, g.strategy, g.sample_index
        ORDER BY g.created_at DESC, g.generation_id) = 1
)
SELECT pair, dataset, role, mode, coalesce(perturbation, 'original') AS variant,
       count(*) AS n, avg(CASE WHEN correct THEN 1.0 ELSE 0.0 END) AS accuracy
FROM latest GROUP BY ALL ORDER BY ALL
"""


def synthetic_row(i: int, run_id: str) -> dict[str, Any]:
    """A generation row shaped like the runner's (prompt and output of realistic length)."""
    from engine.store.store import generation_key

    role = "base" if i % 2 else "instruct"
    return {
        "generation_id": generation_key(run_id, f"i{i}", role, "few-shot-cot", 8, False,
                                        "greedy", 0),
        "run_id": run_id, "dataset": "gsm8k", "item_id": f"i{i // 2}", "original_id": None,
        "perturbation": None, "role": role, "model_name": f"m-{role}", "model_sha256": "0" * 64,
        "mode": "few-shot-cot", "shots": 8, "chat_template": role == "instruct",
        "strategy": "greedy", "sample_index": 0, "prompt": "Q: How many apples? " * 150,
        "prompt_tokens": 910, "output": "Let's think step by step. " * 30,
        "output_token_ids": list(range(200)), "extracted": "18", "correct": bool(i % 3),
        "grader": "gsm8k", "grader_rule": "answer-is", "tokens": 200, "ttft_s": 0.3,
        "gen_time_s": 4.0, "tokens_per_s": 50.0, "finish_reason": "stop", "seed": 0,
        "temperature": 0.0, "top_p": 1.0, "top_k": 0, "max_tokens": 256,
        "decoding": json.dumps({"strategy": "greedy"}), "score": None,
        "llama_cpp_version": "llama-cpp-python 0.3.36", "created_at": datetime.now(),
    }  # fmt: skip


def insert_rate(n_rows: int, batch: int, db: Path) -> float:
    from engine.store.store import Store

    store = Store(db)
    store.ensure()
    rows = [synthetic_row(i, f"run-{batch}") for i in range(n_rows)]
    grades = [
        {"generation_id": r["generation_id"], "grader": "gsm8k", "extracted": "18",
         "correct": r["correct"], "rule": "answer-is", "detail": ""}
        for r in rows
    ]  # fmt: skip
    t0 = time.perf_counter()
    for k in range(0, n_rows, batch):
        store.insert_generations(rows[k : k + batch], grades[k : k + batch])
    return n_rows / (time.perf_counter() - t0)


def fill(db: Path, n_rows: int) -> None:
    """n_rows synthetic generations (and grades) written by SQL: 4 runs, 2 roles."""
    from engine.store.store import Store

    store = Store(db)
    store.ensure()
    import duckdb

    con = duckdb.connect(str(db))
    for k in range(4):
        con.execute(
            "INSERT INTO runs (run_id, config_hash, kind, pair, dataset, status, started_at) "
            "VALUES (?, ?, 'headless', 'demo', 'gsm8k', 'completed', now())",
            [f"run{k}", f"h{k}"],
        )
    con.execute(
        """
        INSERT INTO generations BY NAME
        SELECT 'g' || i AS generation_id, 'run' || (i % 4) AS run_id, 'gsm8k' AS dataset,
               'item' || (i // 8) || CASE WHEN i % 5 = 0 THEN '-numbers' ELSE '' END AS item_id,
               CASE WHEN i % 5 = 0 THEN 'item' || (i // 8) END AS original_id,
               CASE WHEN i % 5 = 0 THEN 'numbers' END AS perturbation,
               CASE WHEN i % 2 = 0 THEN 'base' ELSE 'instruct' END AS role,
               CASE WHEN i % 2 = 0 THEN 'gemma' ELSE 'smollm2' END AS model_name,
               CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END AS model_sha256,
               CASE WHEN i % 4 < 2 THEN 'zero-shot-cot' ELSE 'few-shot-cot' END AS mode,
               CASE WHEN i % 4 < 2 THEN 0 ELSE 8 END AS shots,
               i % 2 = 1 AS chat_template, 'greedy' AS strategy, 0 AS sample_index,
               'Q: a question of a few hundred characters ...' AS prompt, 900 AS prompt_tokens,
               'Step one. Step two. The answer is 18.' AS output, [1, 2, 3] AS output_token_ids,
               CAST(i % 40 AS VARCHAR) AS extracted, hash(i) % 3 = 0 AS correct,
               'gsm8k' AS grader, 'answer-is' AS grader_rule, 120 AS tokens, 0.3 AS ttft_s,
               3.0 AS gen_time_s, 45.0 AS tokens_per_s, 'stop' AS finish_reason, 0 AS seed,
               0.0 AS temperature, 1.0 AS top_p, 0 AS top_k, 256 AS max_tokens,
               '{}' AS decoding, NULL AS score, 'llama-cpp-python 0.3.36' AS llama_cpp_version,
               TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND AS created_at
        FROM range(?) t(i)
        """,
        [n_rows],
    )
    con.execute(
        "INSERT INTO grades SELECT generation_id, 'gsm8k', extracted, correct, 'answer-is', '' "
        "FROM generations"
    )
    con.close()


def timed(fn: Any, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times)


def build_report_time(
    db: Path, timeout_s: float, repeat: int = 1
) -> tuple[float | None, float | None]:
    """engine.analysis.build_report over the whole store, each time in a new process: (best wall
    seconds, its CPU seconds); (None, None) past the limit."""
    code = (
        "import sys, time; from engine.store.store import Store; from engine.analysis import "
        "build_report; s = Store(sys.argv[1]); t = time.perf_counter(); c = time.process_time(); "
        "build_report(s); print(time.perf_counter() - t, time.process_time() - c)"
    )
    best: tuple[float | None, float | None] = (None, None)
    for _ in range(repeat):
        try:
            out = subprocess.run(
                [sys.executable, "-c", code, str(db)],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=True,
            )
        except subprocess.TimeoutExpired:
            return None, None
        except subprocess.CalledProcessError as exc:
            print(exc.stderr[-1500:], file=sys.stderr)
            return float("nan"), float("nan")
        wall, cpu = (float(x) for x in out.stdout.strip().splitlines()[-1].split())
        if best[0] is None or wall < best[0]:
            best = (wall, cpu)
    return best


def run(
    n_rows: int = 1_000_000,
    insert_rows: int = 4000,
    report_timeout_s: float = 300.0,
    report_repeat: int = 3,
) -> dict[str, Any]:
    from engine.store.store import Store
    from engine.store.summary import SUMMARY_SQL

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (1, 32, 1000):
            n = min(insert_rows, 400) if batch == 1 else insert_rows
            results[f"insert_rows_per_s_batch_{batch}"] = insert_rate(
                n, batch, Path(tmp) / f"ins{batch}.duckdb"
            )
        db = Path(tmp) / "big.duckdb"
        t0 = time.perf_counter()
        fill(db, n_rows)
        results["fill_s"] = time.perf_counter() - t0
        store = Store(db)
        results["rows"] = n_rows
        results["summary_one_run_s"] = timed(lambda: store.query(SUMMARY_SQL, ["run0"]))
        results["accuracy_all_runs_s"] = timed(lambda: store.query(ACCURACY_SQL))
        try:
            from engine.analysis import ReportFilters, load_answers

            results["report_load_answers_s"] = timed(
                lambda: load_answers(store, ReportFilters()), repeat=1
            )
            results["build_report_s"], results["build_report_cpu_s"] = build_report_time(
                db, report_timeout_s, report_repeat
            )
        except ImportError:
            results["report_load_answers_s"] = results["build_report_s"] = float("nan")
            results["build_report_cpu_s"] = float("nan")
        results["report_timeout_s"] = report_timeout_s
    return results


def report(r: dict[str, Any]) -> str:
    br = r["build_report_s"]
    rows = [
        ["insert, 1 row per call (app)", f"{r['insert_rows_per_s_batch_1']:.0f} rows/s"],
        ["insert, 32 rows per call (headless)", f"{r['insert_rows_per_s_batch_32']:.0f} rows/s"],
        ["insert, 1000 rows per call", f"{r['insert_rows_per_s_batch_1000']:.0f} rows/s"],
        [f"run summary (SUMMARY_SQL), {r['rows'] // 4:,} rows of one run",
         f"{r['summary_one_run_s']:.3f} s"],
        [f"accuracy by setting, de-duplicated in SQL, {r['rows']:,} rows",
         f"{r['accuracy_all_runs_s']:.3f} s"],
        [f"engine.analysis.rows.load_answers (presets), {r['rows']:,} rows into Python",
         f"{r['report_load_answers_s']:.2f} s"],
        [f"engine.analysis.report.build_report, {r['rows']:,} rows (whole report, new process)",
         f"> {r['report_timeout_s']:.0f} s (stopped)" if br is None
         else f"{br:.2f} s (cpu {r['build_report_cpu_s']:.2f} s)"],
    ]  # fmt: skip
    return table(["operation", "result"], rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--insert-rows", type=int, default=4000)
    p.add_argument("--report-timeout", type=float, default=300.0)
    p.add_argument("--report-repeat", type=int, default=3, help="report runs (best is shown)")
    args = p.parse_args()
    print(header("Store"))
    print(report(run(args.rows, args.insert_rows, args.report_timeout, args.report_repeat)))


if __name__ == "__main__":
    main()
