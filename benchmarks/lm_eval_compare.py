"""tunelens vs lm-evaluation-harness on one llama-server: wall time and GSM8K accuracy.

    python -m benchmarks.lm_eval_compare [--items 20] [--max-tokens 256] [--slots 4]
                                         [--venv /tmp/lm-eval-venv]

One llama-server (SmolLM2-135M-Instruct, the demo pair's instruct side, `--slots` slots, THREADS
threads) answers both clients in turn, the same first `--items` GSM8K test items, zero-shot CoT,
greedy, `--max-tokens` tokens, as many requests in flight as the server has slots:

- tunelens: `tunelens --headless --role instruct` with a models.toml naming the server; graded by
  tunelens' GSM8K grader.
- lm-eval: `lm_eval --model local-completions` (the OpenAI-compatible /v1/completions endpoint,
  no tokenizer) on task `gsm8k_cot_zeroshot`, with its dataset read from the same local
  test.jsonl (the stock task downloads openai/gsm8k; this machine is offline); scored by its
  strict-match ("The answer is N.") and flexible-extract (the first number-like string) filters.

The prompts differ: both say "Q: {question}\\nA: Let's think step by step.", but tunelens puts that
inside the model's chat template (the instruct role; lm-eval does so only with
--apply_chat_template and a tokenizer), and lm-eval stops at "Q:", "</s>", "<|im_end|>" where
tunelens stops at the end-of-turn token and "\\nQ:". Wall times are each CLI end to end (lm-eval's
task indexing and tunelens' imports included; the server's start-up in neither).

lm-eval is installed (`pip install "lm-eval[api]"`) into a throw-away venv, never into .venv,
and reused when it is already there. If it cannot be installed or run, the script says why in one
line and exits 1.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import GSM8K_TEST, THREADS, header, load_now, table
from benchmarks.served import ALIAS, answers, bench_server, headless, model_path, models_toml

VENV = Path("/tmp/lm-eval-venv")
TASK = "gsm8k_cot_zeroshot"


class LmEvalUnavailable(RuntimeError):
    """lm-eval could not be installed or run here (the message says why, in one line)."""


def ensure_lm_eval(venv: Path = VENV) -> Path:
    """The lm_eval executable in `venv`, creating the venv and installing lm-eval when needed."""
    exe = venv / "bin" / "lm_eval"
    if exe.exists() and _has_api_extra(venv):
        return exe
    try:
        if not (venv / "bin" / "python").exists():
            subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
        out = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "lm-eval[api]"],
            capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        raise LmEvalUnavailable(f"could not create the venv {venv}: {exc}") from None
    if out.returncode != 0 or not exe.exists():
        last = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise LmEvalUnavailable(f"pip install lm-eval[api] into {venv} failed: {last}")
    return exe


def _base_python() -> str:
    """A Python to make the venv from: the interpreter under .venv, not .venv itself."""
    return getattr(sys, "_base_executable", None) or sys.executable


def _has_api_extra(venv: Path) -> bool:
    # local-completions needs tenacity/aiohttp (the [api] extra); the plain package lacks them.
    site = glob.glob(str(venv / "lib" / "python*" / "site-packages"))
    return bool(site) and all(
        glob.glob(os.path.join(site[0], f"{m}*")) for m in ("tenacity", "aiohttp", "lm_eval")
    )


def task_yaml(venv: Path, folder: Path, data_file: Path) -> str:
    """A task that is the installed gsm8k_cot_zeroshot with its dataset read from `data_file`."""
    stock = glob.glob(
        str(venv / "lib" / "python*" / "site-packages" / "lm_eval" / "tasks" / "gsm8k"
            / "gsm8k-cot-zeroshot.yaml")
    )  # fmt: skip
    if not stock:
        raise LmEvalUnavailable(f"the installed lm-eval in {venv} has no gsm8k-cot-zeroshot.yaml")
    name = f"{TASK}_local"
    (folder / f"{name}.yaml").write_text(
        f"include: {stock[0]}\ntask: {name}\ndataset_path: json\ndataset_name: null\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data_file}\n"
        f"    train: {data_file.with_name('train.jsonl')}\n"
    )
    return name


def run_lm_eval(exe: Path, url: str, slots: int, n_items: int, max_tokens: int,
                folder: Path, data_file: Path = GSM8K_TEST) -> dict[str, Any]:  # fmt: skip
    venv = exe.parents[1]
    task = task_yaml(venv, folder, data_file)
    out_dir = folder / "lm-eval-out"
    cmd = [
        str(exe), "--model", "local-completions",
        "--model_args", f"model={ALIAS},base_url={url}/v1/completions,tokenizer_backend=None,"
                        f"num_concurrent={slots},max_retries=3",
        "--include_path", str(folder), "--tasks", task, "--limit", str(n_items),
        "--gen_kwargs", f"temperature=0,max_gen_toks={max_tokens}",
        "--output_path", str(out_dir), "--log_samples",
    ]  # fmt: skip
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    load = load_now()
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env,
                             cwd=folder)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise LmEvalUnavailable("lm_eval did not finish within 30 minutes") from None
    wall = time.perf_counter() - t0
    results = glob.glob(str(out_dir / "**" / "results_*.json"), recursive=True)
    if out.returncode != 0 or not results:
        lines = [ln for ln in (out.stderr + out.stdout).strip().splitlines() if ln.strip()]
        raise LmEvalUnavailable(f"lm_eval exited {out.returncode}: {(lines or ['?'])[-1]}")
    metrics = json.loads(Path(results[0]).read_text())["results"][task]
    per_item: dict[str, dict[int, bool]] = {"strict-match": {}, "flexible-extract": {}}
    outputs: dict[int, str] = {}
    for path in glob.glob(str(out_dir / "**" / "samples_*.jsonl"), recursive=True):
        for line in Path(path).read_text().splitlines():
            s = json.loads(line)
            if s.get("filter") in per_item:
                per_item[s["filter"]][int(s["doc_id"])] = bool(s.get("exact_match"))
                resps = s.get("resps") or [[""]]
                outputs[int(s["doc_id"])] = resps[0][0] if resps[0] else ""
    return {
        "wall_s": wall,
        "load": load,
        "strict": metrics.get("exact_match,strict-match"),
        "flexible": metrics.get("exact_match,flexible-extract"),
        "n": metrics.get("sample_len") or len(per_item["strict-match"]),
        "per_item": per_item,
        "tokens": _count_tokens(url, list(outputs.values())),
    }


def _count_tokens(url: str, texts: list[str]) -> int | None:
    """Tokens in lm-eval's answers, by the server's own tokenizer (lm-eval ran without one)."""
    import requests

    try:
        return sum(
            len(requests.post(url + "/tokenize", json={"content": t}, timeout=30).json()["tokens"])
            for t in texts
        )
    except (requests.RequestException, KeyError, ValueError):
        return None


def run(n_items: int = 20, max_tokens: int = 256, slots: int = 4, venv: Path = VENV) -> dict:
    exe = ensure_lm_eval(venv)
    model = model_path()
    res: dict[str, Any] = {"model": model.name, "items": n_items, "max_tokens": max_tokens,
                           "slots": slots, "threads": THREADS}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, bench_server(model, slots) as srv:
        t = Path(tmp)
        toml = models_toml(t / "served.toml", model, url=srv.url)
        db = t / "tunelens.duckdb"
        load = load_now()
        cli = headless(toml, db, n_items, max_tokens, concurrency=slots)
        got, span = answers(db)
        res["tunelens"] = {
            "wall_s": cli, "run_s": span, "load": load, "n": len(got),
            "tokens": sum(a["tokens"] or 0 for a in got.values()),
            "accuracy": sum(bool(a["correct"]) for a in got.values()) / max(len(got), 1),
            "per_item": {int(k.rsplit("-", 1)[1]): bool(a["correct"]) for k, a in got.items()},
        }  # fmt: skip
        res["lm_eval"] = run_lm_eval(exe, srv.url, slots, n_items, max_tokens, t)
    tl, le = res["tunelens"]["per_item"], res["lm_eval"]["per_item"]["flexible-extract"]
    res["agree_tunelens_flexible"] = f"{sum(tl.get(k) == v for k, v in le.items())}/{len(le)}"
    return res


HEADERS = ["client", "items", "wall s", "of which", "answer tokens", "tokens/s (wall)",
           "accuracy", "1-min load at start"]  # fmt: skip


def report(res: dict[str, Any]) -> str:
    tl, le = res["tunelens"], res["lm_eval"]
    rows = [
        ["tunelens --headless --role instruct (chat template)", tl["n"], tl["wall_s"],
         f"{tl['run_s']:.1f} s in the run", tl["tokens"], tl["tokens"] / tl["wall_s"],
         f"{tl['accuracy']:.1%} (tunelens grader)", tl["load"]],
        ["lm_eval local-completions (raw text)", le["n"], le["wall_s"], "",
         "?" if le["tokens"] is None else le["tokens"],
         float("nan") if le["tokens"] is None else le["tokens"] / le["wall_s"],
         f"{le['strict']:.1%} strict-match, {le['flexible']:.1%} flexible-extract", le["load"]],
    ]  # fmt: skip
    return (
        f"{res['model']} on one llama-server ({res['slots']} slots, {res['slots']} requests in "
        f"flight from each client, {res['threads']} threads), the first {res['items']} GSM8K "
        f"test items, zero-shot CoT, greedy, {res['max_tokens']} max tokens. Wall: each CLI end "
        "to end. Prompts: the same words, but tunelens wraps them in the chat template and lm-eval "
        'sends raw text (and stops at "Q:").\n\n'
        + table(HEADERS, rows)
        + f"\n\nPer item, tunelens' grade = lm-eval's flexible-extract: "
        f"{res['agree_tunelens_flexible']}.\n"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=20)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--slots", type=int, default=4)
    p.add_argument("--venv", type=Path, default=VENV)
    args = p.parse_args()
    print(header("tunelens vs lm-evaluation-harness on one llama-server, GSM8K zero-shot CoT"))
    try:
        res = run(args.items, args.max_tokens, args.slots, args.venv)
    except LmEvalUnavailable as exc:
        sys.exit(f"lm-eval comparison not run: {exc}")
    print(report(res))


if __name__ == "__main__":
    main()
