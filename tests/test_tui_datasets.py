"""The benchmarks behind the cross-benchmark drops open in the app: a MATH-500 item on the compare
screen (asked of the tiny models, graded by math-verify), and GSM-Symbolic P2 with its variants
chosen by `--items`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_tui_compare import ready, run_and_wait
from test_tui_support import tiny_models_file

from engine.records import Decoding
from engine.run.runner import RunConfig
from engine.store.store import Store
from tui.app import TunelensApp

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="module")
def models_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models_file(tmp_path_factory.mktemp("tiny"))


def app_for(tmp_path: Path, models_file: Path, **config: Any) -> TunelensApp:
    run = RunConfig(pair="tiny", models_file=str(models_file), decoding=Decoding(max_tokens=8),
                    **config)
    return TunelensApp(run, Store(tmp_path / "store.duckdb"),
                       history_file=tmp_path / "history.json")


async def test_compare_screen_loads_and_asks_a_math500_item(tmp_path: Path,
                                                            models_file: Path) -> None:
    app = app_for(tmp_path, models_file, dataset="math500",
                  data_file=str(DATA / "math500" / "test.jsonl"), limit=2)
    async with app.run_test(size=(100, 30)) as pilot:
        c = await ready(pilot)
        assert c.item is not None and len(c.items) == 2
        assert c.item.item_id == "math500-test-precalculus-807"  # the file's first problem
        text = str(app.screen.query_one("#question-text").render())
        assert c.item.question[:20] in text
        await run_and_wait(pilot, c)
        rows = app.store.query(
            "SELECT dataset, item_id, grader FROM generations ORDER BY role").rows
        assert rows == [("math500", c.item.item_id, "math-verify")] * 2


async def test_compare_screen_loads_p2_items_by_gsm8k_id(tmp_path: Path,
                                                         models_file: Path) -> None:
    app = app_for(tmp_path, models_file, dataset="gsm-symbolic-p2",
                  data_file=str(DATA / "gsm-symbolic" / "GSM_p2.jsonl"),
                  items=("gsm8k-test-473",), limit=2)
    async with app.run_test(size=(100, 30)) as pilot:
        c = await ready(pilot)
        # The browsed item is the GSM8K original the P2 file brings along; its published P2
        # variant is the first perturbation offered (not one made by a perturbation module).
        assert [i.item_id for i in c.items] == ["gsm-symbolic-p2-orig-473"]
        assert c.perturbations[0] == "gsm-symbolic-p2"
        c.set_perturbation("gsm-symbolic-p2")
        await pilot.pause(0.1)
        variant = c.current_items()["variant"]
        # One of the two chosen instances (the app shows one published variant per original).
        assert variant is not None
        assert variant.item_id in ("gsm-symbolic-p2-0-0", "gsm-symbolic-p2-0-1")
        assert variant.fields["gsm8k_item_id"] == "gsm8k-test-473"
