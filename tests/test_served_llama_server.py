"""Served models against a real llama-server (built from the pinned llama-cpp-python's llama.cpp by
scripts/build_llama_server.sh) serving the tiny generated GGUFs on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import GSM8K_TEST
from servers import LlamaServer
from tinygguf import tiny_pair

from engine.errors import CapabilityError, ServerError
from engine.inference.config import ModelSpec, ServerSource, load_config
from engine.inference.launch import free_port
from engine.inference.pairs import load_pair
from engine.inference.served import ServedModel
from engine.records import Decoding
from engine.run.config import RunConfig
from engine.run.prepare import prepare_run
from engine.run.shift import compute_shift
from engine.store.store import Store

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_pair(tmp_path_factory.mktemp("served-tiny"))


@pytest.fixture(scope="module")
def server(tiny: tuple[Path, Path]) -> LlamaServer:
    srv = LlamaServer(tiny[0], parallel=4, n_ctx=4096, alias="tiny-base").start()
    yield srv
    srv.stop()


def _toml(tmp: Path, tiny: tuple[Path, Path], url: str, **server: object) -> Path:
    extra = "".join(f", {k} = {v}" for k, v in server.items())
    p = tmp / "models.toml"
    p.write_text(
        "[engine]\nn_ctx = 1024\nthreads = 1\n\n"
        f'[models.served-base]\nserver = {{ url = "{url}", model = "tiny-base", '
        f'kind = "llama-server"{extra} }}\n\n'
        f'[models.tiny-base]\npath = "{tiny[0]}"\n\n'
        f'[models.tiny-instruct]\npath = "{tiny[1]}"\n\n'
        '[pairs.mixed]\nbase = "served-base"\ninstruct = "tiny-instruct"\n\n'
        '[pairs.local]\nbase = "tiny-base"\ninstruct = "tiny-instruct"\n'
    )
    return p


def _served(url: str, **kw: object) -> ServedModel:
    return ServedModel(ModelSpec(name="served-base", server=ServerSource(
        kind="llama-server", urls=(url,), model="tiny-base", **kw)))


def test_probe_reports_the_server(server: LlamaServer) -> None:
    model = _served(server.url)
    assert model.slots == 4 and model.concurrency == 4
    assert model.n_ctx and model.n_ctx >= 1024
    assert model.engine_version.startswith("llama-server")
    assert model.info.sha256 == "served:llama-server:tiny-base"
    assert model.info.settings["total_slots"] == 4


def test_greedy_equals_in_process(server: LlamaServer, tiny: tuple[Path, Path],
                                  tmp_path: Path) -> None:
    """One request at a time (no batching across slots): llama.cpp gives the same greedy tokens."""
    toml = _toml(tmp_path, tiny, server.url)
    local = load_pair(load_config(toml), "local", ("base",))["base"]
    served = _served(server.url)
    try:
        for prompt in ("Q: Tom has 3 apples and buys 4 more. How many?\nA:", "Q: 12 - 5?\nA:"):
            dec = Decoding(max_tokens=24)
            assert served.tokenize(prompt) == local.tokenize(prompt)
            a, b = local.generate(prompt, dec), served.generate(prompt, dec)
            assert b.token_ids == a.token_ids and b.text == a.text
            assert b.tokens == a.tokens and b.finish_reason == a.finish_reason
    finally:
        local.close()


def test_first_tokens_and_margins_match_in_process(server: LlamaServer, tiny: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    toml = _toml(tmp_path, tiny, server.url)
    local = load_pair(load_config(toml), "local", ("base",))["base"]
    served = _served(server.url)
    prompt = "Q: What is 6 times 7?\nA:"
    try:
        a, b = local.top_first_tokens(prompt, 5), served.top_first_tokens(prompt, 5)
        assert [t for t, _ in b] == [t for t, _ in a]
        assert [p for _, p in b] == pytest.approx([p for _, p in a], abs=1e-3)
        ga = local.generate(prompt, Decoding(max_tokens=12), want_margins=True,
                            forced=(a[1][0],))
        gb = served.generate(prompt, Decoding(max_tokens=12), want_margins=True,
                             forced=(a[1][0],))
        assert gb.token_ids == ga.token_ids
        assert gb.margins[1:] == pytest.approx(ga.margins[1:], abs=1e-3)
    finally:
        local.close()


def _count(db: Path) -> int:
    try:
        return Store(db).query("SELECT count(*) FROM generations").rows[0][0]
    except Exception:
        return -1


def _headless(toml: Path, db: Path, *extra: str, limit: int = 12) -> list[str]:
    return [sys.executable, "-m", "tunelens", "--headless", "--pair", "mixed", "--models",
            str(toml), "--dataset", "gsm8k", "--data-file", str(GSM8K_TEST), "--limit",
            str(limit), "--max-tokens", "16",
            "--db", str(db), *extra]


def test_headless_run_on_a_mixed_pair(server: LlamaServer, tiny: tuple[Path, Path],
                                      tmp_path: Path) -> None:
    toml, db = _toml(tmp_path, tiny, server.url), tmp_path / "s.duckdb"
    done = subprocess.run(_headless(toml, db), cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "160"})
    assert done.returncode == 0, done.stderr
    store = Store(db)
    rows = store.query(
        "SELECT role, model_sha256, llama_cpp_version, temperature, count(*) FROM generations "
        "GROUP BY ALL ORDER BY role").rows
    assert [(r[0], r[4]) for r in rows] == [("base", 12), ("instruct", 12)]
    assert rows[0][1] == "served:llama-server:tiny-base" and rows[0][2].startswith("llama-server")
    assert rows[1][2].startswith("llama-cpp-python")
    assert store.query("SELECT status FROM runs").rows == [("completed",)]
    settings = store.query(
        "SELECT settings FROM run_models WHERE role = 'base'").rows[0][0]
    assert "tiny-base" in settings and server.url in settings
    # token shift needs teacher-forced ranks, which a served base model cannot give: one line
    with pytest.raises(CapabilityError, match="token shift needs") as err:
        compute_shift(store, load_config(toml), "mixed")
    assert "\n" not in str(err.value)


def test_requests_in_flight_use_the_slots(server: LlamaServer, tiny: tuple[Path, Path],
                                          tmp_path: Path) -> None:
    toml = _toml(tmp_path, tiny, server.url)
    config = RunConfig(pair="mixed", dataset="gsm8k", data_file=str(GSM8K_TEST), limit=12,
                       roles=("base",),
                       decoding=Decoding(max_tokens=24), models_file=str(toml))
    prepared = prepare_run(config, Store(tmp_path / "c.duckdb"))
    model = prepared.load_models()["base"]
    in_flight, peak, lock = [0], [0], threading.Lock()
    stream = model.stream

    def counting(*a, **kw):  # type: ignore[no-untyped-def]
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            yield from stream(*a, **kw)
        finally:
            with lock:
                in_flight[0] -= 1

    model.stream = counting  # type: ignore[method-assign]
    runner = prepared.runner()
    assert runner.concurrency("base") == 4
    plan = runner.start(resume=False)
    events = list(runner.execute(plan))
    assert len(events) == plan.total == 12 and all(e.answer for e in events)
    assert peak[0] > 1
    keys = {e.answer.row["generation_id"] for e in events if e.answer}
    assert len(keys) == 12


def test_server_killed_and_restarted_mid_run(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    """The run rides out a server restart (retries with backoff) and records every answer once."""
    srv = LlamaServer(tiny[0], parallel=2, alias="tiny-base", port=free_port()).start()
    toml = _toml(tmp_path, tiny, srv.url, retries=8)
    db = tmp_path / "r.duckdb"
    proc = subprocess.Popen(_headless(toml, db, "--role", "base", "--max-tokens", "48",
                                      limit=60), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _count(db) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before the server could be killed"
        srv.stop()
        time.sleep(1.5)
        srv.start()
        _, err = proc.communicate(timeout=300)
    finally:
        srv.stop()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    rows = Store(db).query("SELECT generation_id FROM generations").rows
    assert len(rows) == 60 == len(set(rows))
    assert Store(db).query("SELECT status FROM runs").rows == [("completed",)]


def test_killed_run_resumes_without_duplicates(server: LlamaServer, tiny: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    toml, db = _toml(tmp_path, tiny, server.url), tmp_path / "k.duckdb"
    n = 600  # long enough that the kill lands mid-run with 4 requests in flight
    args = _headless(toml, db, "--role", "base", "--max-tokens", "48", limit=n)
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _count(db) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = set(Store(db).query("SELECT generation_id, output FROM generations").rows)
    assert 4 <= len(before) < n
    done = subprocess.run([*args, "--resume"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    rows = Store(db).query("SELECT generation_id, output FROM generations").rows
    assert len(rows) == n == len({r[0] for r in rows})
    assert before <= set(rows)


def test_unreachable_and_wrong_model_are_one_line(server: LlamaServer, tiny: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    for url, says in ((dead, "cannot connect"), (server.url, None)):
        toml = _toml(tmp_path, tiny, url, retries=0)
        if says is None:
            toml.write_text(toml.read_text().replace('model = "tiny-base"', 'model = "llama-70b"'))
            says = "not 'llama-70b'"
        done = subprocess.run(_headless(toml, tmp_path / "e.duckdb"), cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert says in done.stderr and "Traceback" not in done.stderr
        assert len([ln for ln in done.stderr.splitlines() if ln.startswith("tunelens:")]) == 1
    with pytest.raises(ServerError, match="cannot connect"):
        _served(dead, retries=0)


async def test_the_app_streams_a_served_model(server: LlamaServer, tiny: tuple[Path, Path],
                                              tmp_path: Path) -> None:
    """The app with a mixed pair: the served base streams into its pane and is recorded."""
    from test_tui_compare import ready, rows, run_and_wait

    from tui.app import TunelensApp

    toml = _toml(tmp_path, tiny, server.url)
    config = RunConfig(pair="mixed", dataset="embedded", models_file=str(toml),
                       decoding=Decoding(max_tokens=24))
    app = TunelensApp(config, Store(tmp_path / "app.duckdb"), history_file=tmp_path / "h.json")
    async with app.run_test(size=(100, 30)) as pilot:
        c = await ready(pilot)
        assert set(c.loaded) == {"base", "instruct"}
        await run_and_wait(pilot, c)
        assert c.pane("original", "base").text and c.pane("original", "instruct").text
        got = rows(app, "SELECT role, model_sha256 FROM generations ORDER BY role")
        assert got[0] == ("base", "served:llama-server:tiny-base")
        assert got[1][0] == "instruct" and not got[1][1].startswith("served:")


def test_server_side_template_matches_tunelens_rendering(tiny: tuple[Path, Path]) -> None:
    """llama-server's /apply-template and tunelens' own Jinja rendering give the same text."""
    from engine.prompts import apply_chat_template

    srv = LlamaServer(tiny[1], parallel=1, alias="tiny-instruct", port=free_port()).start()
    try:
        model = ServedModel(ModelSpec(name="i", server=ServerSource(
            kind="llama-server", urls=(srv.url,), model="tiny-instruct")))
        assert model.info.chat_template  # read from /props: tunelens renders it itself
        messages = [{"role": "user", "content": "Q: 2+2?\nA: Let's think step by step."}]
        ours = apply_chat_template(model.info.chat_template, messages,
                                   bos_token=model.info.bos_token, eos_token=model.info.eos_token)
        assert model._render_on_server(messages) == ours
    finally:
        srv.stop()
