"""Token shift in the app, with the tiny same-vocabulary pair: a recorded instruct answer coloured
by class (legend, stepping, hover), and `t` on the live compare screen (scoring, and the refusal
for a pair with two tokenizers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.style import Style
from test_tui_support import NoModels, wait_for

from engine.analysis import shift_for_generation
from engine.inference.config import load_config
from engine.records import Decoding
from engine.run.config import RunConfig
from engine.run.prepare import prepare_run
from engine.run.shift import compute_shift
from engine.store.store import Store
from tui.app import TunelensApp
from tui.screens.runs import RunsScreen
from tui.screens.stored_compare import StoredCompareScreen
from tui.widgets import StreamText, shift_explanation, shift_styles


def record_tiny_run(toml: Path, store: Store) -> str:
    """Two embedded items, both roles, zero-shot CoT, through the engine's runner."""
    config = RunConfig(pair="tiny", dataset="embedded", limit=2, modes=("zero-shot-cot",),
                       decoding=Decoding(max_tokens=40), models_file=str(toml), shots=0,
                       fewshot_seed=1)
    prepared = prepare_run(config, store)
    models = prepared.load_models()
    runner = prepared.runner()
    try:
        plan = runner.start(resume=False)
        list(runner.execute(plan))
        store.finish_run(plan.run_id, "completed")
        compute_shift(store, load_config(toml), "tiny", run_id=plan.run_id,
                      models=dict(models))
    finally:
        for m in models.values():
            m.close()
    return plan.run_id


@pytest.fixture(scope="module")
def scored(tiny_models_toml: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("tui-shift") / "s.duckdb")
    record_tiny_run(tiny_models_toml, store)
    return store


def instruct_with_shifted_tokens(store: Store) -> str:
    rows = store.query(
        "SELECT generation_id FROM token_shift GROUP BY ALL "
        "HAVING count(*) FILTER (WHERE shift = 'shifted') > 0 "
        "AND count(*) FILTER (WHERE shift = 'marginal') > 0 ORDER BY 1 LIMIT 1").rows
    assert rows, "the tiny pair shifts some tokens"
    return rows[0][0]


def span_styles(text: Any, start: int, end: int) -> Style:
    """The combined style of the spans covering [start, end) of a rich Text."""
    style = Style()
    for span in text.spans:
        if span.start <= start and span.end >= end:
            style += span.style if isinstance(span.style, Style) else Style.parse(span.style)
    return style


async def test_recorded_answer_coloured_by_token_shift(tmp_path: Path, scored: Store) -> None:
    gid = instruct_with_shifted_tokens(scored)
    expected = shift_for_generation(scored, gid)
    app = TunelensApp(RunConfig(pair="tiny", dataset="embedded"), scored,
                      history_file=tmp_path / "h.json", session_factory=NoModels,
                      start_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.loads)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        runs.open_answer(gid)
        await wait_for(pilot, lambda: isinstance(app.screen, StoredCompareScreen))
        await pilot.pause(0.1)
        stored = app.screen
        assert isinstance(stored, StoredCompareScreen)
        pane = stored.pane("original", "instruct")
        assert pane.shifts == expected and pane.has_class("-shift")
        assert not stored.pane("original", "base").shifts  # base answers are not scored
        assert "token shift" in str(stored.query_one("#status-line").render())

        # The legend names each class in its colour, with its share of the answer's tokens.
        legend = str(pane.query_one(".pane-shift").render())
        shares = "/".join(f"{100 * sum(t.shift == c for t in expected) / len(expected):.0f}"
                          for c in ("unshifted", "marginal", "shifted"))
        assert f"unshifted/marginal/shifted {shares}%" in legend

        # The answer's text is styled per class from the theme's colours.
        styles = shift_styles(app.current_theme.to_color_system().generate())
        body = pane.query_one(StreamText)
        shifted = next(t for t in expected if t.shift == "shifted" and t.start < t.end)
        marginal = next(t for t in expected if t.shift == "marginal" and t.start < t.end)
        plain = next(t for t in expected if t.shift == "unshifted" and t.start < t.end)
        content = body._content
        got = span_styles(content, shifted.start, shifted.end)
        assert got.color == styles["shifted"].color and got.bold and got.underline
        assert span_styles(content, marginal.start, marginal.end).color == (
            styles["marginal"].color)
        assert span_styles(content, plain.start, plain.end).color is None
        assert got.meta["tooltip"] == shift_explanation(shifted)

        # t steps through the tokens the base model would not have chosen, explaining each.
        marked = [i for i, t in enumerate(expected) if t.shift != "unshifted"]
        await pilot.press("t")
        assert pane.shift_selected == marked[0]
        first = expected[marked[0]]
        line = str(pane.query_one(".pane-shift").render())
        assert f"1/{len(marked)}" in line and "base preferred" in line
        assert repr(first.base_top) in line and repr(first.token) in line
        await pilot.press("t")
        assert pane.shift_selected == marked[1]
        await pilot.press("shift+t", "shift+t")
        assert pane.shift_selected == marked[-1]  # wraps around

        # Hovering a token shows what the base model preferred there.
        index = expected.index(shifted)
        y = body.line_of("token", index)
        assert y is not None
        body.scroll_to_line(y)
        await pilot.pause()
        x = 0
        for segment in body._lines[y]:
            if segment.style is not None and segment.style.meta.get("token") == index:
                break
            x += segment.cell_length
        await pilot.hover(body, offset=(x, y - round(body.scroll_y)))
        await pilot.pause()
        assert body.tooltip == shift_explanation(shifted)

        # Colours follow the theme.
        await pilot.press("ctrl+t")
        await pilot.pause()
        light = shift_styles(app.current_theme.to_color_system().generate())
        assert light["shifted"].color != styles["shifted"].color
        assert span_styles(body._content, shifted.start, shifted.end).color == (
            light["shifted"].color)


def live_app(tmp_path: Path, toml: Path) -> TunelensApp:
    config = RunConfig(pair="tiny", dataset="embedded", models_file=str(toml),
                       decoding=Decoding(max_tokens=24))
    return TunelensApp(config, Store(tmp_path / "live.duckdb"), history_file=tmp_path / "h.json")


async def test_live_t_scores_the_instruct_answer(tmp_path: Path, tiny_models_toml: Path) -> None:
    app = live_app(tmp_path, tiny_models_toml)
    async with app.run_test(size=(80, 24)) as pilot:
        c = app.compare
        await wait_for(pilot, lambda: c.ready)
        await pilot.press("t")  # nothing asked yet: the tokenizer is checked, nothing scored
        await wait_for(pilot, lambda: not c.shifting)
        assert c.shift_refusal is None and c._tokenizer_ok
        assert not c.pane("original", "instruct").shifts
        await pilot.press("enter")
        await wait_for(pilot, lambda: c.completed >= 1)
        await pilot.press("t")
        await wait_for(pilot, lambda: not c.shifting)
        pane = c.pane("original", "instruct")
        assert pane.shifts and pane.has_class("-shift")
        scored = app.store.query(
            "SELECT DISTINCT g.role, t.generation_id FROM token_shift t "
            "JOIN generations g USING (generation_id)").rows
        assert len(scored) == 1 and scored[0][0] == "instruct"  # just the answer shown
        assert pane.shifts == shift_for_generation(app.store, scored[0][1])
        assert "unshifted/marginal/shifted" in str(pane.query_one(".pane-shift").render())
        assert pane.shift_marked  # the tiny instruct model is a noisy copy: some tokens shift
        await pilot.press("t")  # now t steps through the answer
        assert pane.shift_selected == pane.shift_marked[0]
        await pilot.press("n")  # another item: the colouring goes with the answer
        assert not pane.shifts


async def test_live_t_refuses_two_tokenizers(tmp_path: Path, tiny_models_toml: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.inference.pairs

    # The tiny models share a vocabulary; pretend they do not, as the demo pair's do not.
    monkeypatch.setattr(engine.inference.pairs, "same_tokenizer", lambda a, b: False)
    app = live_app(tmp_path, tiny_models_toml)
    async with app.run_test(size=(80, 24)) as pilot:
        c = app.compare
        await wait_for(pilot, lambda: c.ready)
        await pilot.press("t")
        await wait_for(pilot, lambda: c.shift_refusal is not None)
        assert "needs one tokenizer" in (c.shift_refusal or "")
        assert "\n" not in (c.shift_refusal or "")
        line = str(c.pane("original", "instruct").query_one(".pane-shift").render())
        assert "needs one tokenizer" in line
        await pilot.press("enter")  # with an answer on screen, t still refuses at once
        await wait_for(pilot, lambda: c.completed >= 1)
        await pilot.press("t")
        assert not c.shifting
        line = str(c.pane("original", "instruct").query_one(".pane-shift").render())
        assert "needs one tokenizer" in line
        assert app.store.query("SELECT count(*) FROM token_shift").rows == [(0,)]
