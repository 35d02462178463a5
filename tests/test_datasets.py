"""Dataset loading: GSM8K and MedCalc from the shared files, GSM-Plus / GSM-Symbolic / generic
files written here (JSONL, CSV, Parquet), skipped rows with reasons, one-line errors, the
offline Hub path, and few-shot exemplars."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import types
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.data.readers.hub as ds
from engine.data import (
    DATASETS,
    GSM8K_COT_EXEMPLARS,
    DatasetError,
    gsm8k_exemplar_answer,
    load_exemplars,
    load_items,
    normalize_number,
    parse_column_map,
    spec_for,
    spec_of,
)
from engine.prompts import question_text
from engine.records import Item

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
GSM8K_TEST = SHARED / "gsm8k" / "test.jsonl"
GSM8K_TRAIN = SHARED / "gsm8k" / "train.jsonl"
MEDCALC = SHARED / "medcalc-bench" / "test_v1.0.csv"
ONE_SHOT = SHARED / "medcalc-bench" / "one_shot.csv"


@pytest.fixture(autouse=True, scope="module")
def _shared_present() -> None:
    for path in (GSM8K_TEST, GSM8K_TRAIN, MEDCALC, ONE_SHOT):
        if not path.is_file():
            pytest.fail(f"shared dataset missing: {path} (../shared must sit beside the repo)")


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows as JSONL, CSV or Parquet according to the suffix."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif path.suffix == ".csv":
        columns = list(dict.fromkeys(k for r in rows for k in r))
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        raise AssertionError(path)
    return path


# --------------------------------------------------------------------------- GSM8K


def test_gsm8k_from_the_shared_file() -> None:
    result = load_items("gsm8k", GSM8K_TEST)
    assert len(result.items) == 1319 and result.skipped == 0
    first = result.items[0]
    assert first.item_id == "gsm8k-test-0" and first.dataset == "gsm8k"
    assert first.gold == "18" and first.question.startswith("Janet")
    assert first.solution and "<<16-3-4=9>>" in first.solution
    assert [i.item_id for i in result.items] == [f"gsm8k-test-{n}" for n in range(1319)]
    # Golds are normalised: no commas anywhere, negatives kept.
    assert all("," not in i.gold for i in result.items)
    assert any(i.gold.startswith("-") for i in result.items)
    with_comma = [i for i in result.items if "#### " in (i.solution or "")
                  and "," in (i.solution or "").rpartition("####")[2]]
    assert with_comma and all(i.gold.isdigit() for i in with_comma)
    assert load_items("gsm8k", GSM8K_TEST, limit=7).items == result.items[:7]


def test_gsm8k_skips_bad_rows_with_reasons(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "test.jsonl", [
        {"question": "Two plus two?", "answer": "2+2=<<2+2=4>>4\n#### 4"},
        {"question": "", "answer": "#### 3"},
        {"question": "How many?", "answer": "#### twelve"},
        {"question": "No final line?", "answer": "It is 5."},
        {"question": "Money?", "answer": "#### $1,200.00"},
    ])
    result = load_items("gsm8k", path)
    assert [i.item_id for i in result.items] == ["gsm8k-test-0", "gsm8k-test-4"]
    assert result.items[1].gold == "1200"
    assert result.skipped == 3
    assert result.skip_reasons == [
        "test.jsonl:2: no question",
        "test.jsonl:3: gold is not a number ('twelve')",
        "test.jsonl:4: answer has no '#### N' final line",
    ]


def test_gsm8k_file_errors_are_one_line_and_name_the_file(tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"question": "q", "answer": "#### 1"}\n{oops\n')
    with pytest.raises(DatasetError, match=r"^bad\.jsonl:2: invalid JSON"):
        load_items("gsm8k", bad_json)
    wrong = write_rows(tmp_path / "wrong.jsonl", [{"problem": "q", "answer": "#### 1"}])
    with pytest.raises(DatasetError, match=r"wrong\.jsonl: no column 'question'.*'problem'"):
        load_items("gsm8k", wrong)
    other = tmp_path / "data.txt"
    other.write_text("hello")
    with pytest.raises(DatasetError, match=r"data\.txt: unsupported file type '\.txt'"):
        load_items("gsm8k", other)
    with pytest.raises(DatasetError, match="no such file"):
        load_items("gsm8k", tmp_path / "missing.jsonl")
    with pytest.raises(DatasetError, match="unknown dataset 'gsm9k'; known: embedded, gsm8k"):
        load_items("gsm9k")
    with pytest.raises(DatasetError, match="needs --data-file"):
        load_items("file")


def _fake_datasets(rows_by_split: dict[str, list[dict[str, Any]]] | None) -> types.ModuleType:
    """A stand-in for the `datasets` package: returns rows, or raises like an offline Hub."""
    module = types.ModuleType("datasets")

    def load_dataset(path: str, name: str | None = None, split: str = "train") -> Any:
        if rows_by_split is None:
            raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub (LocalEntryNotFound)\n"
                                  "second line of a long traceback message")
        return rows_by_split[split]

    module.load_dataset = load_dataset  # type: ignore[attr-defined]
    return module


def test_offline_hub_gives_one_line_error_naming_data_file(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", _fake_datasets(None))
    # Offline by environment: the loader does not probe, `datasets` fails from its cache.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetError) as err:
        load_items("gsm8k")
    message = str(err.value)
    assert "\n" not in message and "--data-file" in message and "openai/gsm8k" in message
    # Not flagged offline but unreachable: the quick probe fails and `datasets` is never asked.
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(ds, "_hub_reachable", lambda timeout=3.0: False)
    for name, local in (("gsm8k", "test.jsonl"), ("medcalc", "test_v1.0.csv")):
        with pytest.raises(DatasetError) as err:
            load_items(name)
        assert "\n" not in str(err.value) and "--data-file" in str(err.value)
        assert local in str(err.value)
    # Reachable but the download fails: still one line.
    monkeypatch.setattr(ds, "_hub_reachable", lambda timeout=3.0: True)
    with pytest.raises(DatasetError) as err:
        load_items("gsm-plus")
    assert "\n" not in str(err.value) and "--data-file" in str(err.value)


def test_offline_hub_with_the_real_datasets_package_fails_fast(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO)}
    code = ("from engine.data.datasets import load_items, DatasetError\n"
            "try:\n    load_items('gsm8k')\nexcept DatasetError as e:\n    print('ERR', e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERR could not load openai/gsm8k")
    assert "--data-file" in lines[0]


def test_hub_rows_become_items(monkeypatch) -> None:
    rows = [{"question": "One plus one?", "answer": "1+1=<<1+1=2>>2\n#### 2"},
            {"question": "Three?", "answer": "#### 3"}]
    monkeypatch.setitem(sys.modules, "datasets", _fake_datasets({"test": rows, "train": rows}))
    monkeypatch.setattr(ds, "_hub_reachable", lambda timeout=3.0: True)
    result = load_items("gsm8k")
    assert [(i.item_id, i.gold) for i in result.items] == [("gsm8k-test-0", "2"),
                                                           ("gsm8k-test-1", "3")]
    assert result.source == "openai/gsm8k"
    exemplars = load_exemplars("gsm8k", 2, 0)
    assert {e.answer for e in exemplars} == {"1+1=2. The answer is 2.", "The answer is 3."}


# --------------------------------------------------------------------------- exemplars


def test_gsm8k_exemplars_are_seeded_clean_and_exclude_the_asked_item() -> None:
    a = load_exemplars("gsm8k", 5, seed=1, train_file=GSM8K_TRAIN)
    assert a == load_exemplars("gsm8k", 5, seed=1, train_file=GSM8K_TRAIN)
    assert a != load_exemplars("gsm8k", 5, seed=2, train_file=GSM8K_TRAIN)
    assert len({e.question for e in a}) == 5
    for ex in a:
        assert "<<" not in ex.answer and "####" not in ex.answer
        assert ex.answer.rsplit(". ", 1)[-1].startswith("The answer is ")
        assert ex.answer.endswith(".")
    # Default train file: the train.jsonl beside the data file.
    assert load_exemplars("gsm8k", 5, seed=1, data_file=GSM8K_TEST) == a
    # The asked item (by id or by question) is never an exemplar.
    train = load_items("gsm8k", GSM8K_TRAIN, split="train").items
    by_question = {i.question: i.item_id for i in train}
    ids = {by_question[e.question] for e in a}
    b = load_exemplars("gsm8k", 5, seed=1, train_file=GSM8K_TRAIN, exclude_ids=ids)
    assert not {e.question for e in b} & {e.question for e in a}
    c = load_exemplars("gsm8k", 5, seed=1, train_file=GSM8K_TRAIN,
                       exclude_questions={a[0].question})
    assert a[0].question not in {e.question for e in c} and len(c) == 5
    assert load_exemplars("gsm8k", 0, seed=1, train_file=GSM8K_TRAIN) == []


def test_gsm8k_exemplar_answer_format() -> None:
    text = ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
            "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer’s market\n#### 18")
    assert gsm8k_exemplar_answer(text) == (
        "Janet sells 16 - 3 - 4 = 9 duck eggs a day. She makes 9 * 2 = $18 every day at the "
        "farmer’s market. The answer is 18."
    )


def test_gsm8k_cot_exemplars_match_lm_eval() -> None:
    assert len(GSM8K_COT_EXEMPLARS) == 8
    assert GSM8K_COT_EXEMPLARS[0].question.startswith("There are 15 trees in the grove.")
    golds = [ex.answer.rsplit("The answer is ", 1)[1].rstrip(".") for ex in GSM8K_COT_EXEMPLARS]
    assert golds == ["6", "5", "39", "8", "9", "29", "33", "8"]


def test_embedded_exemplars_skip_the_asked_template() -> None:
    exemplars = load_exemplars("embedded", 4, seed=3, exclude_ids={"embedded-pencils_bought"})
    assert len(exemplars) == 4
    assert exemplars == load_exemplars("embedded", 4, seed=3,
                                       exclude_ids={"embedded-pencils_bought"})
    defaults = {i.question for i in load_items("embedded").items}
    for ex in exemplars:
        assert ex.question not in defaults  # never the default instance of any template
        assert "more pencils at the shop" not in ex.question  # pencils_bought's wording
        assert ex.answer.endswith(".") and "The answer is" in ex.answer


# --------------------------------------------------------------------------- MedCalc


def test_medcalc_from_the_shared_csv() -> None:
    result = load_items("medcalc", MEDCALC)
    assert len(result.items) == 1047 and result.skipped == 0
    types_ = Counter(i.answer_type for i in result.items)
    assert types_ == {"decimal": 627, "integer": 360, "date": 40, "gestational_age": 20}
    first = result.items[0]
    assert first.item_id == "medcalc-1" and first.dataset == "medcalc"
    assert first.gold == "25.238"
    assert first.fields["lower_limit"] == "23.9761" and first.fields["upper_limit"] == "26.4999"
    assert first.fields["calculator_id"] == "2" and first.fields["output_type"] == "decimal"
    assert first.fields["patient_note"] in first.question
    assert first.fields["calculator_question"] in first.question
    assert first.question.startswith("Here is the patient note:\n")
    gest = [i for i in result.items if i.answer_type == "gestational_age"]
    assert all(i.fields["calculator_id"] == "69" for i in gest)
    assert gest[0].gold == "(0 weeks, 6 days)"
    dates = [i for i in result.items if i.answer_type == "date"]
    assert all(len(i.gold) == 10 and i.gold[2] == "/" for i in dates)


def test_medcalc_corrected_labels() -> None:
    result = load_items("medcalc", MEDCALC, corrected_file=True)
    assert len(result.items) == 818  # 887 corrected rows, 69 of them labelled N/A
    assert result.skipped == 1047 - 818
    assert any("has no corrected label" in r for r in result.skip_reasons)
    first = result.items[0]
    assert first.item_id == "medcalc-corrected-1" and first.gold == "25.24"
    assert first.fields["labels"] == "corrected"
    # Gestational age is re-asked as a number of days in the corrected set.
    gest = [i for i in result.items if i.fields["calculator_id"] == "69"]
    assert gest and all(i.answer_type == "integer" for i in gest)
    assert all("days" in i.fields["calculator_question"] for i in gest)
    explicit = load_items("medcalc", MEDCALC, corrected_file=MEDCALC.parent / "test_corrected.csv",
                          limit=3)
    assert explicit.items == result.items[:3]


def test_medcalc_one_shot_exemplar_for_the_same_calculator() -> None:
    item = load_items("medcalc", MEDCALC, limit=1).items[0]
    calc = item.fields["calculator_id"]
    exemplars = load_exemplars("medcalc", 1, seed=0, data_file=MEDCALC, calculator_id=calc)
    assert len(exemplars) == 1
    ex = exemplars[0]
    rows = [r for r in csv.DictReader(ONE_SHOT.open(newline="", encoding="utf-8"))
            if r["Calculator ID"] == calc]
    assert rows[0]["Patient Note"].strip() in ex.question
    assert rows[0]["Question"].strip() in ex.question
    assert ex.answer.startswith(rows[0]["Ground Truth Explanation"].strip()[:40])
    assert ex.answer.endswith(f"The answer is {rows[0]['Ground Truth Answer']}.")
    gest = load_exemplars("medcalc", 1, seed=0, train_file=ONE_SHOT, calculator_id=69)
    assert gest[0].answer.endswith("The answer is (34 weeks, 3 days).")
    with pytest.raises(DatasetError, match="no exemplar for Calculator ID 999"):
        load_exemplars("medcalc", 1, seed=0, train_file=ONE_SHOT, calculator_id="999")
    with pytest.raises(DatasetError, match=r"one_shot\.csv"):
        load_exemplars("medcalc", 1, seed=0)


# --------------------------------------------------------------------------- GSM-Plus, GSM-Symbolic

GSM_PLUS_ROWS = [
    {"question": "Ann has 7 apples and buys 5 more. How many apples?", "solution": "7+5=12",
     "answer": "12", "perturbation_type": "numerical substitution",
     "seed_question": "Ann has 3 apples and buys 5 more. How many apples?",
     "seed_solution": "3+5=8", "seed_answer": "8"},
    {"question": "Ann has 3 apples and buys 5 more. A cat sleeps. How many apples?",
     "solution": "3+5=8", "answer": "8", "perturbation_type": "distractor insertion",
     "seed_question": "Ann has 3 apples and buys 5 more. How many apples?",
     "seed_solution": "3+5=8", "seed_answer": "8"},
    {"question": "Ann has some apples and buys 5 more. How many apples?", "solution": "",
     "answer": "None", "perturbation_type": "critical thinking",
     "seed_question": "Ann has 3 apples and buys 5 more. How many apples?",
     "seed_solution": "3+5=8", "seed_answer": "8"},
    {"question": "Bo runs 2.5 km twice. How far?", "solution": "2.5*2=5",
     "answer": "5.0", "perturbation_type": "integer-decimal-fraction conversion",
     "seed_question": "Bo runs 2 km twice. How far?", "seed_solution": "2*2=4",
     "seed_answer": "4"},
]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_gsm_plus_file_yields_variants_and_their_originals(tmp_path: Path, suffix: str) -> None:
    path = write_rows(tmp_path / f"gsmplus{suffix}", GSM_PLUS_ROWS)
    result = load_items("gsm-plus", path)
    items = result.items
    originals = [i for i in items if not i.is_variant]
    variants = [i for i in items if i.is_variant]
    assert len(originals) == 2 and len(variants) == 3  # deduplicated; critical thinking skipped
    assert result.skipped == 1 and "gold is not a number ('None')" in result.skip_reasons[0]
    ids = {i.item_id for i in items}
    assert len(ids) == len(items)
    for v in variants:
        assert v.original_id in ids and v.dataset == "gsm-plus"
        assert v.perturbation == v.fields["perturbation_type"]
    ann = [v for v in variants if v.question.startswith("Ann")]
    assert {v.perturbation for v in ann} == {"numerical substitution", "distractor insertion"}
    assert len({v.original_id for v in ann}) == 1
    original = next(i for i in items if i.item_id == ann[0].original_id)
    assert original.gold == "8" and original.question.startswith("Ann has 3 apples")
    # Each original comes before its first variant, so a run holds both sides of each pair.
    order = [i.item_id for i in items]
    for v in variants:
        assert order.index(v.original_id) < order.index(v.item_id)
    bo = next(v for v in variants if v.question.startswith("Bo"))
    assert bo.gold == "5" and bo.solution == "2.5*2=5"


GSM_SYMBOLIC_ROWS = [
    {"id": 0, "instance": 0, "question": "Liam has 4 cats and 3 dogs. How many pets?",
     "answer": "4+3=<<4+3=7>>7\n#### 7", "original_id": 12,
     "original_question": "Tom has 2 cats and 3 dogs. How many pets?",
     "original_answer": "2+3=<<2+3=5>>5\n#### 5", "canonical_annotation": "..."},
    {"id": 0, "instance": 1, "question": "Ava has 6 cats and 1 dog. How many pets?",
     "answer": "6+1=<<6+1=7>>7\n#### 7", "original_id": 12,
     "original_question": "Tom has 2 cats and 3 dogs. How many pets?",
     "original_answer": "2+3=<<2+3=5>>5\n#### 5", "canonical_annotation": "..."},
]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_gsm_symbolic_file(tmp_path: Path, suffix: str) -> None:
    path = write_rows(tmp_path / f"symbolic{suffix}", GSM_SYMBOLIC_ROWS)
    items = load_items("gsm-symbolic", path).items
    assert [i.item_id for i in items] == ["gsm-symbolic-orig-12", "gsm-symbolic-0-0",
                                         "gsm-symbolic-0-1"]
    original, first, _ = items
    assert original.gold == "5" and original.perturbation is None
    assert first.gold == "7" and first.original_id == "gsm-symbolic-orig-12"
    assert first.perturbation == "gsm-symbolic" and first.solution.endswith("#### 7")
    assert first.fields["source_original_id"] == "12"
    assert load_items("gsm-symbolic", path, limit=1).items == items[:2]


def test_generic_file_with_a_column_map(tmp_path: Path) -> None:
    rows = [{"idx": "a1", "problem": "What is 2+2?", "final": "4"},
            {"idx": "a2", "problem": "What is 10/4?", "final": "2.50"},
            {"idx": "a1", "problem": "Duplicate id?", "final": "1"}]
    path = write_rows(tmp_path / "my-set.csv", rows)
    columns = parse_column_map("question=problem,answer=final,id=idx")
    result = load_items("file", path, columns=columns)
    assert [(i.item_id, i.gold, i.dataset) for i in result.items] == [
        ("my-set-a1", "4", "my-set"), ("my-set-a2", "2.5", "my-set")]
    assert result.skipped == 1 and "duplicate id" in result.skip_reasons[0]
    with pytest.raises(DatasetError, match=r"my-set\.csv: no column 'answer_text' for answer"):
        load_items("file", path, columns={"question": "problem", "answer": "answer_text"})
    with pytest.raises(DatasetError, match=r"my-set\.csv: no column 'question'"):
        load_items("file", path)
    with pytest.raises(DatasetError, match="no column 'nope' for perturbation_type"):
        load_items("file", path, columns={**columns, "perturbation_type": "nope"})


def test_generic_file_links_variants_by_original_question(tmp_path: Path) -> None:
    rows = [{"question": "V1?", "answer": "#### 3", "original_question": "O?",
             "original_answer": "2", "perturbation_type": "mine"},
            {"question": "Plain?", "answer": "9"}]
    items = load_items("file", write_rows(tmp_path / "pairs.jsonl", rows)).items
    assert [(i.item_id, i.original_id, i.perturbation) for i in items] == [
        (items[0].item_id, None, None), ("pairs-test-0", items[0].item_id, "mine"),
        ("pairs-test-1", None, None)]
    assert items[0].item_id.startswith("pairs-orig-")


def test_parse_column_map_errors() -> None:
    assert parse_column_map("") == {}
    assert parse_column_map(" question = q , answer=a ") == {"question": "q", "answer": "a"}
    with pytest.raises(DatasetError, match="unknown key 'questoin'; known: question, answer"):
        parse_column_map("questoin=q")
    with pytest.raises(DatasetError, match="expected KEY=COLUMN"):
        parse_column_map("question")


def test_datasets_registry_and_aliases() -> None:
    assert {"embedded", "gsm8k", "medcalc", "file", "gsm-plus", "gsm-symbolic"} <= set(DATASETS)
    for name, info in DATASETS.items():
        assert info.name == name and info.how_to_load and info.description
    assert DATASETS["gsm8k"].hub_id == "openai/gsm8k" and DATASETS["gsm8k"].hub_config == "main"
    assert load_items("GSM_Plus", write_rows(Path(tempfile.mkdtemp()) / "p.jsonl",
                                             GSM_PLUS_ROWS[:1])).items[0].dataset == "gsm-plus"
    with pytest.raises(DatasetError, match="takes no --data-file"):
        load_items("embedded", GSM8K_TEST)


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [("18", "18"), ("1,200", "1200"), ("$18.00", "18"), ("-3", "-3"), ("50%", "50"),
     ("0.50", "0.5"), (".5", "0.5"), ("3/4", "0.75"), ("1/3", "1/3"), ("12.", "12"),
     ("twelve", None), ("", None), ("None", None), ("1/0", None), (7, "7"), (2.5, "2.5"),
     (True, None), (None, None)],
)
def test_normalize_number(text: object, expected: str | None) -> None:
    assert normalize_number(text) == expected


@settings(max_examples=100, deadline=None)
@given(st.integers(-10**9, 10**9))
def test_normalize_number_strips_thousands_separators(n: int) -> None:
    assert normalize_number(f"{n:,}") == str(n)


_safe_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
                     min_size=1, max_size=40).filter(lambda s: s.strip() == s and s)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(_safe_text, st.integers(-999, 10**6)), min_size=1, max_size=8),
       st.sampled_from([".jsonl", ".csv", ".parquet"]))
def test_generic_files_round_trip(rows: list[tuple[str, int]], suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_rows(Path(tmp) / f"rt{suffix}",
                          [{"question": q, "answer": str(a)} for q, a in rows])
        items = load_items("file", path).items
    assert [(i.question, i.gold) for i in items] == [(q, str(a)) for q, a in rows]
    assert [i.item_id for i in items] == [f"rt-test-{n}" for n in range(len(rows))]


# --------------------------------------------------------------------------- one spec per benchmark

MATH500 = SHARED / "math500" / "test.jsonl"
MATH_PERTURB = SHARED / "math-perturb"
GSM_P2 = SHARED / "gsm-symbolic" / "GSM_p2.jsonl"


def _shared(path: Path) -> Path:
    if not path.is_file():
        pytest.fail(f"shared dataset missing: {path} (../shared must sit beside the repo)")
    return path


def test_every_dataset_is_one_spec() -> None:
    for name, spec in DATASETS.items():
        assert spec_for(name) is spec and spec.name == name
        assert spec.grader in ("gsm8k", "medcalc", "math-verify")
        for alias in spec.aliases:
            assert spec_for(alias.upper()) is spec
    assert {"math500", "math-perturb-simple", "math-perturb-hard", "gsm-symbolic-p2"} <= set(
        DATASETS)
    assert spec_for("math500").hub_id == "HuggingFaceH4/MATH-500"
    assert spec_for("gsm-symbolic-p2").hub_id == "apple/GSM-Symbolic"
    assert spec_for("gsm-symbolic-p2").hub_config == "p2"
    assert spec_for("medcalc").grader == "medcalc" and spec_for("math500").grader == "math-verify"
    # Items of `--dataset file` are named after their file: they get the file spec.
    assert spec_of(Item("my-set", "my-set-1", "Q?", "1")) is spec_for("file")
    with pytest.raises(DatasetError, match=r"^unknown dataset 'math5000'; known: embedded, "):
        spec_for("math5000")


def test_math500_from_the_shared_file() -> None:
    result = load_items("math500", _shared(MATH500), limit=5)
    assert len(result.items) == 5 and result.skipped == 0
    first = result.items[0]
    assert first.dataset == "math500" and first.item_id == "math500-test-precalculus-807"
    assert first.answer_type == "text" and first.gold == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert first.fields == {"subject": "Precalculus", "level": 2,
                            "unique_id": "test/precalculus/807.json"}
    assert first.solution and "\\boxed{" in first.solution
    assert question_text(first) == first.question.strip()
    every = load_items("math500", MATH500).items
    assert len(every) == 500 and len({i.item_id for i in every}) == 500
    assert every[:5] == result.items


def test_math_perturb_simple_and_hard_pair_by_problem_id() -> None:
    simple = load_items("math-perturb-simple",
                        _shared(MATH_PERTURB / "math_perturb_simple.jsonl")).items
    hard = load_items("math-perturb-hard", _shared(MATH_PERTURB / "math_perturb_hard.jsonl"),
                      limit=3).items
    assert len(simple) == 279 and len(hard) == 3
    assert [i.item_id for i in hard] == [i.item_id for i in simple[:3]] == [
        "math-perturb-1", "math-perturb-2", "math-perturb-3"]
    assert {i.dataset for i in hard} == {"math-perturb-hard"}
    # `answer` is a JSON number in some rows: it is cast to text.
    assert hard[1].gold == "0" and all(isinstance(i.gold, str) for i in simple)
    assert hard[1].answer_type == "text" and not hard[1].is_variant
    assert hard[1].fields["subject"] == "Intermediate Algebra"
    assert hard[1].fields["original_split"] == "train"


def test_math_perturb_without_a_file_says_to_pass_one() -> None:
    for kind in ("simple", "hard"):
        with pytest.raises(DatasetError) as err:
            load_items(f"math-perturb-{kind}")
        message = str(err.value)
        assert "\n" not in message and "--data-file" in message
        assert f"math_perturb_{kind}.jsonl" in message and "no Hub copy" in message


def test_gsm_symbolic_p2_links_to_gsm8k_test_items() -> None:
    items = load_items("gsm-symbolic-p2", _shared(GSM_P2), limit=2).items
    assert [i.item_id for i in items] == ["gsm-symbolic-p2-orig-473", "gsm-symbolic-p2-0-0",
                                         "gsm-symbolic-p2-0-1"]
    original, first, _ = items
    assert first.original_id == original.item_id and first.perturbation == "gsm-symbolic-p2"
    assert first.gold == "32.5" and first.fields["source_original_id"] == "473"
    assert first.fields["gsm8k_item_id"] == original.fields["gsm8k_item_id"] == "gsm8k-test-473"
    gsm8k = {i.item_id: i for i in load_items("gsm8k", GSM8K_TEST).items}
    assert gsm8k["gsm8k-test-473"].question == original.question
    assert gsm8k["gsm8k-test-473"].gold == original.gold


def test_new_datasets_missing_file_is_one_line(tmp_path: Path) -> None:
    for name in ("math500", "math-perturb-simple", "gsm-symbolic-p2"):
        with pytest.raises(DatasetError, match="no such file") as err:
            load_items(name, tmp_path / "missing.jsonl")
        assert "\n" not in str(err.value)
    wrong = write_rows(tmp_path / "wrong.jsonl", [{"question": "q", "answer": "1"}])
    with pytest.raises(DatasetError, match=r"wrong\.jsonl: no column 'problem'"):
        load_items("math500", wrong)


def test_math500_from_the_hub_and_offline(monkeypatch) -> None:
    rows = [{"problem": "What is $1+1$?", "solution": "$\\boxed{2}$", "answer": "2",
             "subject": "Algebra", "level": 1, "unique_id": "test/algebra/1.json"}]
    monkeypatch.setitem(sys.modules, "datasets", _fake_datasets({"test": rows}))
    monkeypatch.setattr(ds, "_hub_reachable", lambda timeout=3.0: True)
    result = load_items("math500")
    assert result.source == "HuggingFaceH4/MATH-500"
    assert [(i.item_id, i.gold) for i in result.items] == [("math500-test-algebra-1", "2")]
    monkeypatch.setattr(ds, "_hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(DatasetError) as err:
        load_items("math500")
    assert "\n" not in str(err.value) and "--data-file" in str(err.value)
    assert "test.jsonl" in str(err.value)


MATH_TRAIN_ROWS = [
    {"problem": f"What is ${n} + {n}$?", "solution": f"It is ${n} + {n} = \\boxed{{{2 * n}}}$.",
     "level": "Level 1", "type": "Algebra"}
    for n in range(1, 7)
] + [{"problem": "No boxed answer?", "solution": "It is 3.", "level": "Level 1", "type": "Algebra"}]


def test_math_exemplars_from_a_train_file_or_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    train = write_rows(tmp_path / "math_train.jsonl", MATH_TRAIN_ROWS)
    for name in ("math500", "math-perturb-hard"):
        exemplars = load_exemplars(name, 3, seed=1, train_file=train)
        assert len(exemplars) == 3 and len({e.question for e in exemplars}) == 3
        assert all("\\boxed{" in e.answer for e in exemplars)
        assert exemplars == load_exemplars(name, 3, seed=1, train_file=train)
    asked = load_exemplars("math500", 6, seed=0, train_file=train)
    assert len(asked) == 6  # the row without a boxed answer is never an exemplar
    fewer = load_exemplars("math500", 6, seed=0, train_file=train,
                           exclude_questions={asked[0].question})
    assert asked[0].question not in {e.question for e in fewer} and len(fewer) == 5
    # Offline with no train file: one line that says which file to pass.
    monkeypatch.setattr(ds, "_hub_reachable", lambda timeout=3.0: False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    with pytest.raises(DatasetError) as err:
        load_exemplars("math500", 2, seed=0)
    message = str(err.value)
    assert "\n" not in message and "--train-file" in message and "MATH train" in message
