"""The command line: fast help, read-only query, one-line errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.store.store import Store

REPO = Path(__file__).resolve().parents[1]


def tl(*args: str, env: dict | None = None, input: str | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tunelens", *args], cwd=REPO, capture_output=True, text=True,
        timeout=120, env={**os.environ, "COLUMNS": "200", **(env or {})}, input=input,
    )


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_help_lists_commands_without_heavy_imports() -> None:
    code = (
        "import sys\nfrom tunelens.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('llama_cpp', 'textual', 'datasets', 'duckdb') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert "HEAVY []" in out.stdout
    for cmd in ("query", "db", "grade", "datasets", "models"):
        assert cmd in out.stdout


def test_query_formats_and_read_only(tmp_path: Path) -> None:
    db = tmp_path / "q.duckdb"
    Store(db).start_run({"run_id": "r1", "config_hash": "h", "kind": "headless"})
    proc = tl("query", "SELECT run_id, kind FROM runs", "--db", str(db), "--format", "csv")
    assert proc.returncode == 0 and proc.stdout.splitlines() == ["run_id,kind", "r1,headless"]
    proc = tl("query", "SELECT run_id FROM runs", "--db", str(db), "--format", "json")
    assert json.loads(proc.stdout) == {"run_id": "r1"}
    proc = tl("query", "SELECT count(*) AS n FROM runs", "--db", str(db))
    assert proc.returncode == 0 and "n" in proc.stdout and "1" in proc.stdout
    err = _one_line_error(tl("query", "DELETE FROM runs", "--db", str(db)))
    assert "read-only" in err and "DELETE" in err
    assert Store(db).query("SELECT count(*) FROM runs").rows == [(1,)]
    err = _one_line_error(tl("query", "SELECT * FROM nope", "--db", str(db)))
    assert "nope" in err


def test_db_path(tmp_path: Path) -> None:
    proc = tl("db", "path", "--db", str(tmp_path / "x.duckdb"))
    assert proc.stdout.strip() == str(tmp_path / "x.duckdb")
    proc = tl("db", "path", env={"TUNELENS_DB": str(tmp_path / "env.duckdb")})
    assert proc.stdout.strip() == str(tmp_path / "env.duckdb")


def test_bad_models_toml_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "models.toml"
    bad.write_text('[models.a]\npath = "a.gguf"\nquant = 4\n')
    err = _one_line_error(tl("--headless", "--models", str(bad), "--db", str(tmp_path / "d")))
    assert f"{bad}:3: models.a.quant: unknown key" in err


def test_unknown_pair_is_one_line(tmp_path: Path) -> None:
    err = _one_line_error(tl("--headless", "--pair", "nope", "--db", str(tmp_path / "d")))
    assert "unknown pair 'nope'" in err and "demo" in err


def test_bad_mode_is_one_line() -> None:
    err = _one_line_error(tl("--headless", "--mode", "three-shot"))
    assert "unknown mode 'three-shot'" in err


def test_models_command_lists_pairs() -> None:
    proc = tl("models")
    assert proc.returncode == 0
    assert "demo" in proc.stdout and "smollm2-135m" in proc.stdout


def test_gsm8k_without_data_file_offline_names_the_option(tmp_path: Path) -> None:
    err = _one_line_error(
        tl("--headless", "--dataset", "gsm8k", "--db", str(tmp_path / "d"),
           env={"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    )
    assert "--data-file" in err


@pytest.mark.parametrize("fmt", ["ok", "malformed"])
def test_grade_command(tmp_path: Path, fmt: str) -> None:
    f = tmp_path / "outs.jsonl"
    lines = [
        {"id": "a", "output": "She has 18 eggs. The answer is 18.", "gold": "18"},
        {"id": "b", "output": "So 3 + 4 = 8.\n\nQ: Next? A: The answer is 7.", "gold": "7"},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n"
    if fmt == "malformed":
        text += "{not json\n"
    f.write_text(text)
    proc = tl("grade", str(f))
    got = [json.loads(x) for x in proc.stdout.splitlines()]
    assert got[0]["correct"] is True and got[0]["extracted"] == "18"
    assert got[1]["correct"] is False and got[1]["extracted"] == "8"  # the run-on does not count
    if fmt == "malformed":
        err = _one_line_error(proc)
        assert f"{f}:3" in err
    else:
        assert proc.returncode == 0
