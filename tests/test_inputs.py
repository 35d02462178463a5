"""Bad input gets one line that names what and where, found before any model loads or any run
is recorded: text that is not UTF-8, outputs that cannot be written, a missing train file, too
many shots, out-of-range sampling settings, missing columns, and a Hub model with no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.data import load_exemplars, load_items
from engine.errors import ConfigError, DatasetError, GradeInputError, UsageError
from engine.grading import grade_jsonl_records
from engine.inference.config import HubSource, ModelSpec, load_config
from engine.run.config import RunConfig
from engine.run.prepare import PreparedRun, prepare_run
from engine.store.store import Store

REPO = Path(__file__).resolve().parents[1]
LATIN1 = "caf\xe9".encode("latin-1")  # b"caf\xe9": not UTF-8


def tl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tunelens", *args], cwd=REPO, capture_output=True, text=True,
        timeout=120, env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


# -- text that is not UTF-8 -----------------------------------------------------------------------

def latin1_jsonl(path: Path) -> Path:
    path.write_bytes(b'{"question": "What is 2+2?", "answer": "#### 4"}\n'
                     b'{"question": "' + LATIN1 + b' 3+3?", "answer": "#### 6"}\n')
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".json"])
def test_data_file_not_utf8_names_file_line_and_offset(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"bad{suffix}"
    if suffix == ".jsonl":
        latin1_jsonl(path)
    elif suffix == ".csv":
        path.write_bytes(b"question,answer\nWhat is 2+2?,4\n" + LATIN1 + b" 3+3?,6\n")
    else:
        path.write_bytes(b'[{"question": "What is 2+2?", "answer": "4"},\n'
                         b' {"question": "' + LATIN1 + b'", "answer": "6"}]\n')
    with pytest.raises(DatasetError) as info:
        load_items("file", path)
    message = str(info.value)
    line = 3 if suffix == ".csv" else 2
    assert message.startswith(f"{path}:{line}: not UTF-8 text (byte 0xE9 at column ")
    assert "byte offset" in message and "\n" not in message


def test_train_file_not_utf8(tmp_path: Path) -> None:
    train = latin1_jsonl(tmp_path / "train.jsonl")
    with pytest.raises(DatasetError, match=r"train\.jsonl:2: not UTF-8 text"):
        load_exemplars("gsm8k", 2, 0, train_file=train)


def test_models_toml_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_bytes(b'[models.a]\ndescription = "' + LATIN1 + b'"\npath = "a.gguf"\n')
    with pytest.raises(ConfigError, match=rf"^{path}:2: not UTF-8 text \(byte 0xE9 at column 19"):
        load_config(path)


def test_grade_input_not_utf8(tmp_path: Path) -> None:
    lines = [b'{"output": "4", "gold": "4"}\n', b'{"output": "' + LATIN1 + b'", "gold": "4"}\n']
    got = grade_jsonl_records(iter(lines), source="out.jsonl")
    assert next(got)["line"] == 1
    with pytest.raises(GradeInputError, match=r"^out\.jsonl:2: not UTF-8 text \(byte 0xE9"):
        next(got)
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"".join(lines))
    err = one_line_error(tl("grade", str(path)))
    assert f"{path}:2: not UTF-8 text" in err
    proc = subprocess.run([sys.executable, "-m", "tunelens", "grade", "-"], cwd=REPO,
                          input=b"".join(lines), capture_output=True, timeout=60)
    assert proc.returncode == 2 and b"<stdin>:2: not UTF-8 text" in proc.stderr
    assert b"Traceback" not in proc.stderr


def test_headless_data_file_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = latin1_jsonl(tmp_path / "bad.jsonl")
    err = one_line_error(tl("--headless", "--dataset", "file", "--data-file", str(path),
                            "--db", str(tmp_path / "s.duckdb")))
    assert f"{path}:2: not UTF-8 text" in err


async def test_app_names_the_file_that_is_not_utf8(tmp_path: Path) -> None:
    from test_tui_support import NoModels, wait_for

    from tui.app import TunelensApp

    path = latin1_jsonl(tmp_path / "bad.jsonl")
    config = RunConfig(pair="demo", dataset="file", data_file=str(path))
    app = TunelensApp(config, Store(tmp_path / "s.duckdb"), history_file=tmp_path / "h.json",
                      session_factory=NoModels)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.compare.last_error is not None)
        assert app.compare.last_error.startswith(f"{path}:2: not UTF-8 text")  # type: ignore[union-attr]


# -- outputs, checked before the work -------------------------------------------------------------

@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--plot-dir", "{file}/plots"], "--plot-dir {file}/plots: cannot make this folder"),
        (["--format", "json", "--out", "{tmp}/missing/r.json"], "{tmp}/missing does not exist"),
        (["--format", "json", "--out", "{tmp}"], "--out {tmp}: is a folder, not a file"),
        (["--format", "csv", "--out", "{file}"], "--out {file}: is a file, not a folder"),
    ],
)
def test_report_outputs_are_checked_before_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str], expected: str
) -> None:
    import engine.analysis
    from tunelens.commands.report import cmd_report

    def computed(*_: Any, **__: Any) -> Any:
        raise AssertionError("the report was computed before its outputs were checked")

    monkeypatch.setattr(engine.analysis, "build_report", computed)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    db = tmp_path / "s.duckdb"
    Store(db).ensure()
    fill = {"file": str(a_file), "tmp": str(tmp_path)}
    with pytest.raises(UsageError) as info:
        cmd_report(["--db", str(db), *(f.format(**fill) for f in flags)])
    assert expected.format(**fill) in str(info.value)


# -- run settings, train file and shots: before models load, before a run row ---------------------

def gsm8k_files(tmp_path: Path) -> tuple[Path, Path]:
    test = tmp_path / "test.jsonl"
    test.write_text(json.dumps({"question": "What is 2+2?", "answer": "#### 4"}) + "\n")
    train = tmp_path / "train2.jsonl"
    train.write_text("".join(json.dumps({"question": f"q{i}", "answer": f"#### {i}"}) + "\n"
                             for i in range(2)))
    return test, train


def no_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(*_: Any, **__: Any) -> Any:
        raise AssertionError("models were loaded before the inputs were checked")

    monkeypatch.setattr(PreparedRun, "load_models", load)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"train_file": "{tmp}/nope.jsonl"}, DatasetError,
         "--train-file {tmp}/nope.jsonl: no such"),
        ({"shots": 100}, DatasetError, "--shots 100: only 2 exemplars available from"),
        ({"shots": -1}, UsageError, "--shots -1: expected 0 or more"),
    ],
)
def test_run_inputs_fail_before_models_and_run_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any],
    error: type[Exception], message: str,
) -> None:
    from tunelens.headless import run_headless

    no_model_loads(monkeypatch)
    test, train = gsm8k_files(tmp_path)
    fill = {"tmp": str(tmp_path)}
    settings: dict[str, Any] = {"train_file": str(train), **changes}
    settings = {k: v.format(**fill) if isinstance(v, str) else v for k, v in settings.items()}
    config = RunConfig(pair="demo", dataset="gsm8k", data_file=str(test),
                       modes=("few-shot-cot",), **settings)
    db = tmp_path / "s.duckdb"
    with pytest.raises(error, match=message.format(**fill)):
        run_headless(config, db=str(db))
    if db.exists():
        assert Store(db).query("SELECT count(*) FROM runs").rows == [(0,)]


def test_enough_shots_pass_the_check(tmp_path: Path) -> None:
    test, train = gsm8k_files(tmp_path)
    config = RunConfig(pair="demo", dataset="gsm8k", data_file=str(test), train_file=str(train),
                       modes=("few-shot-cot",), shots=2)
    prepared = prepare_run(config, Store(tmp_path / "s.duckdb"))
    assert prepared.exemplars is not None
    assert len(prepared.exemplars(prepared.workload.items[0], "few-shot-cot")) == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--shots", "-1"], "--shots -1: expected 0 or more"),
        (["--temperature", "-5"], "--temperature -5.0: expected 0 or more"),
        (["--top-p", "7"], "--top-p 7.0: expected a number in (0, 1]"),
        (["--strategy", "sample", "--top-k", "-2"], "--top-k -2: expected 0"),
    ],
)
def test_sampling_nonsense_is_a_usage_error(flags: list[str], message: str) -> None:
    from tunelens.options import add_run_options, build_run_config, command_parser

    parser = command_parser("run", "")
    add_run_options(parser)
    with pytest.raises(UsageError) as info:
        build_run_config(parser.parse_args(flags))
    assert message in str(info.value)


def test_sampling_nonsense_on_the_command_line(tmp_path: Path) -> None:
    err = one_line_error(tl("--headless", "--temperature", "-5", "--top-p", "7",
                            "--db", str(tmp_path / "s.duckdb")))
    assert "--temperature -5.0" in err


# -- missing columns: one rule in every reader ----------------------------------------------------

def test_missing_column_skips_the_row_wherever_it_is(tmp_path: Path) -> None:
    rows = [{"question": "no answer here"}, {"question": "What is 2+2?", "answer": "4"},
            {"answer": "5"}, {"question": "What is 3+3?", "answer": "6"}]
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = load_items("file", path)
    assert [i.gold for i in got.items] == ["4", "6"]
    assert got.skipped == 2
    assert got.skip_reasons[:2] == [
        "1 row without column 'answer' for answer skipped (line 1)",
        "1 row without column 'question' for question skipped (line 3)",
    ]


def test_missing_column_rule_is_the_same_for_gsm8k(tmp_path: Path) -> None:
    rows = [{"question": "first"}, {"question": "What is 2+2?", "answer": "#### 4"},
            {"question": "third"}]
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = load_items("gsm8k", path)
    assert [i.item_id for i in got.items] == ["gsm8k-test-1"]
    assert got.skip_reasons[0] == "2 rows without column 'answer' skipped (lines 1, 3)"


def test_no_usable_row_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("problem,final\nWhat is 2+2?,4\nWhat is 3+3?,6\n")
    with pytest.raises(DatasetError, match=r"wrong\.csv: no column 'question' for question "
                                           r"\(found: 'problem', 'final'\)"):
        load_items("file", path)


# -- a Hub model with no network ------------------------------------------------------------------

def fake_hub_cache(root: Path, repo: str, filename: str, data: bytes) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = root / ("models--" + repo.replace("/", "--"))
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    (repo_dir / "snapshots" / commit).mkdir(parents=True)
    (repo_dir / "snapshots" / commit / filename).write_bytes(data)


@pytest.fixture()
def no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No HF_HUB_OFFLINE, an endpoint nobody listens on, and huggingface_hub's download (with its
    retries) made to fail the test if it is called at all."""
    import huggingface_hub

    from engine.inference.sources import PROXY_VARS

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))

    def download(*_: Any, **__: Any) -> Any:
        raise AssertionError("hf_hub_download was tried without network")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    return tmp_path / "hub"


def test_hub_model_without_network_comes_from_the_cache(no_network: Path) -> None:
    from engine.inference.sources import resolve

    fake_hub_cache(no_network, "org/tiny-GGUF", "tiny.gguf", b"GGUF cached")
    got = resolve(ModelSpec("t", hub=HubSource("org/tiny-GGUF", "tiny.gguf")))
    assert got.path.read_bytes() == b"GGUF cached"


def test_hub_model_without_network_and_cache_is_one_line_at_once(no_network: Path) -> None:
    from engine.errors import SourceError
    from engine.inference.sources import resolve

    with pytest.raises(SourceError) as info:
        resolve(ModelSpec("q", hub=HubSource("org/other-GGUF", "m.gguf")))
    message = str(info.value)
    assert "\n" not in message
    assert "org/other-GGUF/m.gguf is not in the Hugging Face cache" in message
    assert "the Hub cannot be reached (127.0.0.1:9:" in message
