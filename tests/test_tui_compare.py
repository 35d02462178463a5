"""Pilot tests of the compare screen with the tiny generated models: load, run, stop, settings."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_tui_support import tiny_models_file, wait_for
from textual.pilot import Pilot
from textual.widgets import Input

from engine.records import Decoding
from engine.run.runner import RunConfig
from engine.run.session import Session
from engine.store.store import Store
from tui.app import TunelensApp
from tui.screens.compare import CompareScreen
from tui.widgets import QuestionView, StreamText


@pytest.fixture(scope="module")
def models_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models_file(tmp_path_factory.mktemp("tiny"))


def make_app(tmp_path: Path, models_file: Path, **kw: Any) -> TunelensApp:
    factory = kw.pop("session_factory", None)
    probe = kw.pop("loop_probe", False)
    config = RunConfig(pair=kw.pop("pair", "tiny"), dataset="embedded",
                       models_file=str(models_file),
                       decoding=Decoding(max_tokens=kw.pop("max_tokens", 24)), **kw)
    return TunelensApp(config, Store(tmp_path / "store.duckdb"),
                       history_file=tmp_path / "history.json", session_factory=factory,
                       loop_probe=probe)


async def ready(pilot: Pilot[Any]) -> CompareScreen:
    app = pilot.app
    assert isinstance(app, TunelensApp)
    await wait_for(pilot, lambda: app.compare.ready)
    return app.compare


async def run_and_wait(pilot: Pilot[Any], c: CompareScreen, key: str = "enter") -> None:
    before = c.completed
    await pilot.press(key)
    await wait_for(pilot, lambda: c.completed > before)
    await pilot.pause(0.1)


def rows(app: TunelensApp, sql: str) -> list[tuple[Any, ...]]:
    return app.store.query(sql).rows


async def test_run_streams_both_and_records(tmp_path: Path, models_file: Path) -> None:
    app = make_app(tmp_path, models_file)
    async with app.run_test(size=(80, 24)) as pilot:
        c = await ready(pilot)
        assert set(c.loaded) == {"base", "instruct"}
        assert app.compare.run_id is None  # no run until the first question
        await run_and_wait(pilot, c)
        for role in ("base", "instruct"):
            pane = c.pane("original", role)
            assert pane.text, role
            assert pane.has_class("-done")
            assert pane.has_class("-correct") or pane.has_class("-wrong")
        assert c.run_id is not None
        got = rows(app, "SELECT role, item_id, mode, run_id FROM generations ORDER BY role")
        assert [r[0] for r in got] == ["base", "instruct"]
        assert {r[1] for r in got} == {c.item.item_id}  # type: ignore[union-attr]
        assert {r[3] for r in got} == {c.run_id}
        kind = rows(app, f"SELECT kind, status FROM runs WHERE run_id = '{c.run_id}'")
        assert kind == [("app", "running")]
        # A second question goes into the same run, as the next answer.
        await pilot.press("n")
        await run_and_wait(pilot, c)
        assert rows(app, "SELECT count(DISTINCT run_id), count(*) FROM generations") == [(1, 4)]
        await pilot.press("ctrl+q")
    assert rows(app, "SELECT status FROM runs") == [("completed",)]


class SlowSession(Session):
    """A session whose answers stream slowly, so a test can stop them mid-way."""

    def ask(self, role: Any, item: Any, settings: Any, **kw: Any) -> Any:
        on_text = kw.pop("on_text", None)

        def slow(chunk: str) -> None:
            time.sleep(0.02)
            if on_text is not None:
                on_text(chunk)

        return super().ask(role, item, settings, on_text=slow, **kw)


async def test_escape_stops_generation(tmp_path: Path, models_file: Path) -> None:
    app = make_app(tmp_path, models_file, session_factory=SlowSession, max_tokens=900)
    async with app.run_test(size=(80, 24)) as pilot:
        c = await ready(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(c.pane("original", "instruct").text))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not c.busy, timeout=30)
        reasons = dict(rows(app, "SELECT role, finish_reason FROM generations"))
        assert "cancelled" in reasons.values()
        tokens = [n for (n,) in rows(app, "SELECT tokens FROM generations")]
        assert min(tokens) < 900  # stopped before its max tokens
        stopped = [c.pane("original", r).border_subtitle for r in ("base", "instruct")]
        assert "stopped" in stopped


class StreamsUntilStopped(Session):
    """Each model's first answer streams until it is stopped (a long answer, whatever the tiny
    model would say), then ends as the engine ends a stopped answer; later ones are real."""

    def ask(self, role: Any, item: Any, settings: Any, **kw: Any) -> Any:
        held = self.__dict__.setdefault("held", set())
        cancel, on_text = kw.get("cancel"), kw.get("on_text")
        if role not in held and cancel is not None and on_text is not None:
            held.add(role)
            while not cancel.wait(0.02):
                on_text("more ")
        return super().ask(role, item, settings, **kw)


async def test_next_while_streaming_stops_first(tmp_path: Path, models_file: Path) -> None:
    """n while both answers stream: they are stopped (recorded as cancelled) before the next
    question shows, so no pane keeps an old answer, graded, under the new question."""
    app = make_app(tmp_path, models_file, session_factory=StreamsUntilStopped)
    async with app.run_test(size=(80, 24)) as pilot:
        c = await ready(pilot)
        first = c.item
        shown_while_busy: list[bool] = []
        show = c._show_item

        def spy() -> None:
            shown_while_busy.append(c.busy)
            show()

        c._show_item = spy  # type: ignore[method-assign]
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(c.pane("original", "instruct").text))
        await pilot.press("n")
        await wait_for(pilot, lambda: not c.busy and c.index == 1, timeout=30)
        assert shown_while_busy == [False]  # the next item showed once the answers had ended
        await pilot.pause(0.1)
        assert c.index == 1
        for role in ("base", "instruct"):
            pane = c.pane("original", role)
            assert pane.text == "" and not pane.has_class("-done"), role
            assert not pane.has_class("-correct") and not pane.has_class("-wrong"), role
        got = rows(app, "SELECT item_id, finish_reason FROM generations")
        assert got == [(first.item_id, "cancelled")] * 2  # type: ignore[union-attr]
        # The next question asks the item now shown.
        await run_and_wait(pilot, c)
        asked = rows(app, "SELECT DISTINCT item_id FROM generations WHERE finish_reason "
                          "<> 'cancelled'")
        assert asked == [(c.item.item_id,)]  # type: ignore[union-attr]


class SlowStart(Session):
    """A session whose run takes a while to open (a big dataset's items going into the store)."""

    def start(self) -> str:
        time.sleep(1.0)
        return super().start()


async def test_escape_while_the_first_question_starts(tmp_path: Path, models_file: Path) -> None:
    app = make_app(tmp_path, models_file, session_factory=SlowStart)
    async with app.run_test(size=(80, 24)) as pilot:
        c = await ready(pilot)
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert c.busy
        await pilot.press("escape")
        await wait_for(pilot, lambda: not c.busy, timeout=30)
        await pilot.pause(0.2)
        for role in ("base", "instruct"):
            status = c.pane("original", role).border_subtitle
            assert status == "stopped before answering", (role, status)
        assert rows(app, "SELECT count(*) FROM generations") == [(0,)]
        # Nothing is left hanging: the question can be asked again.
        await run_and_wait(pilot, c)
        assert c.pane("original", "base").has_class("-done")
        assert rows(app, "SELECT count(*) FROM generations") == [(2,)]


async def test_settings_reach_the_engine(tmp_path: Path, models_file: Path) -> None:
    app = make_app(tmp_path, models_file)
    async with app.run_test(size=(80, 24)) as pilot:
        c = await ready(pilot)
        assert c.mode == "zero-shot-cot"
        await pilot.press("m")  # -> few-shot-cot
        assert c.mode == "few-shot-cot"
        await pilot.press("m")  # -> zero-shot
        assert c.mode == "zero-shot"
        await pilot.press("c")  # chat template off
        assert c.chat is False
        await pilot.press("minus")  # 24 -> 16
        assert c.max_tokens == 16
        await run_and_wait(pilot, c)
        got = rows(app, "SELECT role, mode, chat_template, max_tokens FROM generations "
                        "ORDER BY role")
        assert got == [("base", "zero-shot", False, 16), ("instruct", "zero-shot", False, 16)]
        await pilot.press("c", "plus")
        assert c.max_tokens == 32
        await run_and_wait(pilot, c)
        inst = rows(app, "SELECT chat_template, max_tokens FROM generations "
                         "WHERE role = 'instruct' ORDER BY created_at DESC LIMIT 1")
        assert inst == [(True, 32)]
        prompt = rows(app, "SELECT prompt FROM generations WHERE role = 'instruct' AND "
                           "chat_template ORDER BY created_at DESC LIMIT 1")[0][0]
        assert "<|im_start|>" in prompt


async def test_item_navigation(tmp_path: Path, models_file: Path) -> None:
    app = make_app(tmp_path, models_file)
    async with app.run_test(size=(80, 24)) as pilot:
        c = await ready(pilot)
        first = c.item
        assert first is not None
        await pilot.press("n")
        assert c.index == 1
        await pilot.press("p", "p")
        assert c.index == len(c.items) - 1  # wraps around
        await pilot.press("g")
        target = c.items[5].item_id
        await pilot.press(*target, "enter")
        assert c.item is not None and c.item.item_id == target
        await pilot.press("g", "3", "enter")
        assert c.index == 2
        await pilot.press("escape")  # nothing running: no-op
        c._rng.seed(1)
        await pilot.press("r")
        assert 0 <= c.index < len(c.items)
        text = str(app.screen.query_one("#question-text").render())
        assert c.item.question[:20] in text


async def test_perturbation_diff_and_quad(tmp_path: Path, models_file: Path) -> None:
    app = make_app(tmp_path, models_file)
    async with app.run_test(size=(80, 24)) as pilot:
        c = await ready(pilot)
        assert "numbers" in c.perturbations
        c.set_perturbation("numbers")
        await pilot.pause()
        variant = c.current_items()["variant"]
        assert variant is not None and variant.original_id == c.item.item_id  # type: ignore[union-attr]
        assert c.which == "variant"
        view = app.screen.query_one(QuestionView)
        assert "variant" in str(view.border_title)
        shown = [p.id for p in c.panes() if p.display]
        assert shown == ["pane-variant-base", "pane-variant-instruct"]
        await pilot.press("2")
        assert c.quad
        assert len([p for p in c.panes() if p.display]) == 4
        await run_and_wait(pilot, c)
        got = rows(app, "SELECT perturbation, role FROM generations ORDER BY 1 NULLS FIRST, 2")
        assert got == [(None, "base"), (None, "instruct"), ("numbers", "base"),
                       ("numbers", "instruct")]
        for p in c.panes():
            assert p.has_class("-done"), p.id
        await pilot.press("2")
        assert not c.quad


async def test_quad_picks_a_perturbation(tmp_path: Path, models_file: Path) -> None:
    app = make_app(tmp_path, models_file)
    async with app.run_test(size=(80, 24)) as pilot:
        c = await ready(pilot)
        await pilot.press("2")
        assert c.quad and c.perturbation != "original"
        await pilot.press("v")  # cycles to the next perturbation
        assert c.perturbation != "original"


async def test_controls_panel(tmp_path: Path, models_file: Path) -> None:
    app = make_app(tmp_path, models_file)
    async with app.run_test(size=(130, 36)) as pilot:
        c = await ready(pilot)
        controls = app.screen.query_one("#controls")
        assert controls.display  # wide terminal: shown
        inp = app.screen.query_one("#ctl-max-tokens", Input)
        inp.focus()
        inp.value = ""
        await pilot.press("4", "0", "enter")
        assert c.max_tokens == 40
        await pilot.click("#btn-next")
        assert c.index == 1
        before = c.completed
        await pilot.click("#btn-run")
        await wait_for(pilot, lambda: c.completed > before)
        await pilot.press("s")
        assert not controls.display
    async with make_app(tmp_path, models_file).run_test(size=(80, 24)) as pilot:
        assert not pilot.app.screen.query_one("#controls").display  # narrow: hidden


async def test_model_load_failure_is_shown(tmp_path: Path, models_file: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF but not really")
    toml = tmp_path / "models.toml"
    text = models_file.read_text()
    start = text.index("[models.tiny-instruct]")
    end = text.index("[pairs.tiny]")
    toml.write_text(text[:start] + f'[models.tiny-instruct]\npath = "{bad}"\n\n' + text[end:])
    app = make_app(tmp_path, toml)
    async with app.run_test(size=(80, 24)) as pilot:
        c = await ready(pilot)
        assert "instruct" in c.failed
        pane = c.pane("original", "instruct")
        assert pane.has_class("-error")
        assert "failed to load" in pane.query_one(StreamText).plain
        await run_and_wait(pilot, c)  # the base model still answers
        assert rows(app, "SELECT role FROM generations") == [("base",)]


async def test_unknown_pair_is_shown(tmp_path: Path, models_file: Path) -> None:
    app = make_app(tmp_path, models_file, pair="nope")
    async with app.run_test(size=(80, 24)) as pilot:
        c = app.compare
        await wait_for(pilot, lambda: c.last_error is not None)
        assert "unknown pair 'nope'" in c.last_error  # type: ignore[operator]
        await pilot.press("enter")  # nothing to run, no crash
        assert not c.busy


async def test_event_loop_stays_responsive(tmp_path: Path, models_file: Path) -> None:
    """The tiny models stream at ~1000 tokens/s: the batching must keep the loop free."""
    app = make_app(tmp_path, models_file, loop_probe=True, max_tokens=400)
    async with app.run_test(size=(80, 24)) as pilot:
        c = await ready(pilot)
        assert app.probe is not None
        await pilot.pause(0.2)
        app.probe.reset()
        await run_and_wait(pilot, c)
        # The loop kept ticking while both models streamed. How long its pauses are is a
        # measurement (TUNELENS_LOOP_PROBE, see benchmarks/RESULTS.md), not a unit-test assertion.
        assert app.probe.ticks > 5, app.probe.report()


def test_cli_options_reach_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """`tunelens` without --headless opens the app with the same options as a headless run."""
    import tui.app
    from tunelens.cli import main

    seen: dict[str, Any] = {}

    def fake_run_app(config: RunConfig, db: str | None) -> int:
        seen.update(config=config, db=db)
        return 0

    monkeypatch.setattr(tui.app, "run_app", fake_run_app)
    assert main(["--pair", "tiny", "--dataset", "gsm8k", "--data-file", "x.jsonl",
                 "--mode", "few-shot-cot", "--db", "s.duckdb"]) == 0
    config = seen["config"]
    assert (config.pair, config.dataset, config.data_file, config.modes) == (
        "tiny", "gsm8k", "x.jsonl", ("few-shot-cot",))
    assert seen["db"] == "s.duckdb"
    assert replace(config, pair="x").pair == "x"
