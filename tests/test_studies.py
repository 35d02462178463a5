"""The three `tunelens reproduce` studies: their parts, and end-to-end runs on the tiny pair
(real llama.cpp, same vocabulary) with small limits, re-printed from the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED, write_tiny_models_toml

from engine.data import load_items
from engine.data.tasks import task_of
from engine.errors import DatasetError, UsageError
from engine.prompts import render_raw
from engine.records import ICL_MODES, Exemplar, Item
from engine.run.config import RunConfig
from engine.run.studies import bigoulaeva
from engine.run.studies.sources import Source, resolve_sources
from engine.store.store import Store

DATA = SHARED / "datasets"


@pytest.fixture(scope="module")
def big_ctx_toml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_models_toml(tmp_path_factory.mktemp("tiny4k"), n_ctx=4096)


def _item(q: str = "What is 2 + 3?", gold: str = "5") -> Item:
    return Item(dataset="embedded", item_id="x", question=q, gold=gold)


# -- parts ------------------------------------------------------------------------------------


def test_ordinary_run_ids_do_not_change() -> None:
    # A study tag is hashed; an ordinary run (no tag) keeps the hash it had before studies.
    assert RunConfig(pair="p", dataset="gsm8k").config_hash() == "fdc191e17f7786af"
    assert RunConfig(pair="p", dataset="gsm8k", study="s").config_hash() != "fdc191e17f7786af"


def test_icl_prompts_use_short_answers_and_the_conditions_labels() -> None:
    ex = [Exemplar("What is 1 + 1?", "2"), Exemplar("What is 4 - 1?", "3")]
    gold = render_raw(_item(), "icl-gold", ex)
    assert gold.text == (
        "Question: What is 1 + 1?\nAnswer: 2\n\nQuestion: What is 4 - 1?\nAnswer: 3\n\n"
        "Question: What is 2 + 3?\nAnswer:"
    )
    assert gold.shots == 2 and gold.mode == "icl-gold"
    neutral = render_raw(_item(), "icl-neutral", ex)
    assert "Question:" not in neutral.text
    assert neutral.text.endswith("Input: What is 2 + 3?\nOutput:")
    assert neutral.text.count("Output:") == 3 and "\nInput:" in neutral.stop
    # zero-shot is the same question format without exemplars
    assert render_raw(_item(), "zero-shot", []).text == "Question: What is 2 + 3?\nAnswer:"


def test_ordinary_exemplar_source_refuses_study_modes(tmp_path: Path) -> None:
    from engine.run.workload import exemplar_source

    src = exemplar_source("embedded", shots=2, seed=0, train_file=None, data_file=None,
                          items=[_item()])
    with pytest.raises(DatasetError, match="reproduce bigoulaeva"):
        src(_item(), "icl-gold")


@pytest.mark.parametrize(
    ("gold", "others", "check"),
    [
        ("18", [], lambda w: w.isdigit() and w != "18"),
        ("2.50", [], lambda w: w != "2.50" and len(w.split(".")[1]) == 2),
        ("-3", [], lambda w: w != "-3" and float(w) > -3),
        ("\\frac{1}{2}", ["\\frac{1}{2}", "x^2"], lambda w: w == "x^2"),
        ("blue", ["blue"], lambda w: w == "blue + 1"),
    ],
)
def test_corrupted_answers_are_never_the_gold(gold: str, others: list[str], check) -> None:
    wrong = bigoulaeva.corrupt_answer(gold, others, "salt")
    assert wrong != gold and check(wrong)


def test_tasks_are_slices_with_held_out_exemplars() -> None:
    study = bigoulaeva.IclStudy(
        pair="p", sources=(Source("embedded"), Source("math500", str(DATA / "math500/test.jsonl"))),
        shots=2, limit=3, min_items=3,
    )
    tasks = bigoulaeva.build_tasks(study)
    assert "math500/algebra" in tasks.tasks and "embedded/2-step" in tasks.tasks
    assert len(tasks.tasks) == 10  # 7 MATH subjects, 3 step counts
    for t in tasks.tasks:
        pool = {i.item_id for i in tasks.pools[t]}
        evaluated = {i.item_id for i in tasks.evaluated[t]}
        assert len(pool) == 2 and len(evaluated) == 3 and not pool & evaluated
        assert all(task_of(i) == t for i in tasks.pools[t] + tasks.evaluated[t])
        # the other-task probe takes another dataset's exemplars
        assert tasks.cross[t].split("/")[0] != t.split("/")[0]
    # a seed changes the draw, the same seed repeats it
    again = bigoulaeva.build_tasks(study)
    assert {t: [i.item_id for i in v] for t, v in again.pools.items()} == {
        t: [i.item_id for i in v] for t, v in tasks.pools.items()}
    other = bigoulaeva.build_tasks(bigoulaeva.IclStudy(**{**study.__dict__, "seed": 5}))
    assert any([i.item_id for i in other.pools[t]] != [i.item_id for i in tasks.pools[t]]
               for t in tasks.tasks)
    # too few items: the task is left out, and says how many it had
    strict = bigoulaeva.build_tasks(bigoulaeva.IclStudy(
        pair="p", sources=(Source("embedded"),), shots=2, min_items=12))
    assert strict.tasks == ["embedded/2-step"] and strict.dropped == {
        "embedded/1-step": 11, "embedded/3-step": 9}


def test_p2_task_takes_variants_only_and_medcalc_slices() -> None:
    p2 = load_items("gsm-symbolic-p2", DATA / "gsm-symbolic/GSM_p2.jsonl", limit=6).items
    assert {task_of(i) for i in p2} == {None, "gsm-symbolic-p2"}
    assert all((task_of(i) is None) == (not i.is_variant) for i in p2)
    med = load_items("medcalc", DATA / "medcalc-bench/test_v1.0.csv", limit=3).items
    assert task_of(med[0]) == f"medcalc/{med[0].fields['category']}"
    assert task_of(med[0], medcalc_by="calculator") == f"medcalc/{med[0].fields['calculator_name']}"


def test_sources_resolve_the_shared_layout_and_refuse_what_is_missing(tmp_path: Path) -> None:
    got = resolve_sources(("embedded", "gsm8k"), str(DATA))
    assert got[0] == Source("embedded") and got[1].data_file.endswith("gsm8k/test.jsonl")
    with pytest.raises(UsageError, match=r"gsm8k needs gsm8k/test\.jsonl"):
        resolve_sources(("gsm8k",), str(tmp_path))
    with pytest.raises(UsageError, match="unknown study dataset"):
        resolve_sources(("nope",), None)


def test_token_kinds() -> None:
    from engine.analysis.studies.ghosh import question_words, token_kind

    words = question_words("Tom has 5 apples and buys 3 more.")
    assert token_kind(" 12", words) == "content"
    assert token_kind(" apples", words) == "content"
    assert token_kind(" Sure", words) == "style"
    assert token_kind("!", words) == "style"
    assert token_kind(" a", words) == "style"  # one letter is never a content word


# -- end to end on the tiny pair -----------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    from tunelens.commands.reproduce import cmd_reproduce

    capsys.readouterr()
    assert cmd_reproduce(argv) == 0
    return json.loads(capsys.readouterr().out)


def _table(doc: dict, key: str) -> list[dict]:
    return doc["tables"][key]


def test_bigoulaeva_end_to_end(tiny_models_toml: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "b.duckdb"
    argv = ["bigoulaeva", "--pair", "tiny", "--models", str(tiny_models_toml), "--db", str(db),
            "--data-dir", str(DATA), "--datasets", "embedded,math500", "--limit", "2",
            "--min-items", "2", "--shots", "2", "--max-tokens", "6", "--format", "json"]
    doc = _run(capsys, argv)
    store = Store(db)
    base_run, = [r for r in doc["runs"] if store.query(
        "SELECT count(*) FROM generations WHERE run_id = ? AND role = 'base'", [r]).rows[0][0]]
    instruct_run = next(r for r in doc["runs"] if r != base_run)
    modes = {r[0] for r in store.query(
        "SELECT DISTINCT mode FROM generations WHERE run_id = ?", [base_run]).rows}
    assert modes == {"zero-shot", *ICL_MODES}
    # 10 tasks x 2 evaluated items x 6 conditions; the instruct run also answered 2 exemplars each
    assert store.query("SELECT count(*) FROM generations WHERE run_id = ?",
                       [base_run]).rows[0][0] == 10 * 2 * 6
    assert store.query("SELECT count(*) FROM generations WHERE run_id = ?",
                       [instruct_run]).rows[0][0] == 10 * 4
    # the instruct-written exemplars are the instruct model's recorded answers
    written = dict(store.query(
        "SELECT item_id, output FROM generations WHERE run_id = ?", [instruct_run]).rows)
    prompt = store.query("SELECT prompt FROM generations WHERE run_id = ? AND mode = "
                         "'icl-instruct' LIMIT 1", [base_run]).rows[0][0]
    shown = [part.split("\nAnswer: ", 1)[1] for part in prompt.split("\n\n")[:-1]]
    assert len(shown) == 2 and all(s in {o.strip() for o in written.values()} for s in shown)
    # corrupted exemplars never show their gold; gold ones do
    gold_prompt, corrupt_prompt = (store.query(
        "SELECT prompt FROM generations WHERE run_id = ? AND mode = ? ORDER BY item_id LIMIT 1",
        [base_run, m]).rows[0][0] for m in ("icl-gold", "icl-corrupt"))
    golds = [p.split("\nAnswer: ", 1)[1] for p in gold_prompt.split("\n\n")[:-1]]
    wrongs = [p.split("\nAnswer: ", 1)[1] for p in corrupt_prompt.split("\n\n")[:-1]]
    assert len(golds) == 2 and all(g != w for g, w in zip(golds, wrongs, strict=True))
    # per-task accuracies are the recorded verdicts
    row = next(r for r in _table(doc, "bigoulaeva_tasks") if r["task"] == "embedded/2-step")
    gold_acc = row["base:icl-gold"]
    right = store.query(
        "SELECT avg(g.correct::INT) FROM generations g JOIN items i USING (dataset, item_id) "
        "WHERE g.run_id = ? AND g.mode = 'icl-gold' AND json_extract(i.fields, '$.steps') = 2",
        [base_run]).rows[0][0]
    assert gold_acc == pytest.approx(right)
    corr = _table(doc, "bigoulaeva_correlations")
    assert corr[0]["condition"] == "base zero-shot"
    assert len(corr) == 6 and all(r["tasks"] == 10 for r in corr)
    paper = {r["condition"]: r["paper_spearman"] for r in corr}
    assert paper["base k-shot gold"].startswith("0.851")
    assert paper["base k-shot corrupted answers"] == "not stated"
    # --table-only: the same tables from the store, nothing run
    n = store.query("SELECT count(*) FROM generations").rows[0][0]
    again = _run(capsys, [*argv, "--table-only"])
    assert again == doc
    assert store.query("SELECT count(*) FROM generations").rows[0][0] == n


def test_bigoulaeva_needs_several_tasks(tiny_models_toml: Path, tmp_path: Path) -> None:
    from tunelens.commands.reproduce import cmd_reproduce

    with pytest.raises(UsageError, match="correlation needs many"):
        cmd_reproduce(["bigoulaeva", "--pair", "tiny", "--models", str(tiny_models_toml),
                       "--db", str(tmp_path / "x.duckdb"), "--datasets", "embedded",
                       "--min-items", "20"])


@pytest.mark.parametrize("pair", ["tiny", "twin"])
def test_ghosh_end_to_end(pair: str, tiny_models_toml: Path, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "g.duckdb"
    argv = ["ghosh", "--pair", pair, "--models", str(tiny_models_toml), "--db", str(db),
            "--limit", "4", "--max-tokens", "12", "--format", "json"]
    doc = _run(capsys, argv)
    store = Store(db)
    (run_id,) = doc["runs"]
    counts = dict(store.query(
        "SELECT t.shift, count(*) FROM token_shift t JOIN generations g USING (generation_id) "
        "WHERE g.run_id = ? GROUP BY ALL", [run_id]).rows)
    total = sum(counts.values())
    (row,) = _table(doc, "ghosh_shares")
    assert row["tokens"] == total > 0
    for cls in ("unshifted", "marginal", "shifted"):
        assert row[cls] == pytest.approx(counts.get(cls, 0) / total)
    assert sum(r["tokens"] for r in _table(doc, "ghosh_positions")) == total
    tokens = _table(doc, "ghosh_tokens")
    if pair == "twin":
        # one model twice: it ranks its own greedy answer 1 at every position
        assert row["unshifted"] == 1.0 and tokens == []
    else:
        assert row["shifted"] > 0
        assert tokens and {t["kind"] for t in tokens} <= {"style", "content"}
        assert sum(t["shifted"] for t in tokens) <= counts["shifted"]
    assert sum(r["answers"] for r in _table(doc, "ghosh_base_correct")) == 4
    again = _run(capsys, [*argv, "--table-only"])
    assert again == doc


@pytest.mark.demo
def test_ghosh_refuses_the_cross_family_demo_pair_before_running(tmp_path: Path) -> None:
    from engine.errors import ShiftError
    from tunelens.commands.reproduce import cmd_reproduce

    db = tmp_path / "x.duckdb"
    with pytest.raises(ShiftError, match="one tokenizer"):
        cmd_reproduce(["ghosh", "--pair", "demo", "--db", str(db), "--limit", "1"])
    assert not db.exists()  # nothing was run or recorded


def test_munjal_configs_decode_as_the_paper() -> None:
    from engine.run.studies import munjal

    study = munjal.MunjalStudy(pair="p", sources=(
        Source("gsm8k", "/d/gsm8k/test.jsonl"), Source("math500", "/d/math500/test.jsonl"),
        Source("math-perturb-hard", "/d/hard.jsonl"), Source("medcalc", "/d/m.csv")))
    runs = munjal.configs(study)
    base, inst = runs["gsm8k"]
    assert base.roles == ("base",) and base.decoding.strategy == "cot-decoding"
    assert inst.roles == ("instruct",) and inst.decoding.strategy == "sample"
    assert inst.decoding.temperature == pytest.approx(0.05)
    assert base.decoding.samples == inst.decoding.samples == 20
    assert base.decoding.max_tokens == 8192 and base.modes == ("zero-shot-cot", "few-shot-cot")
    assert [r[0].shots for r in runs.values()] == [8, 4, 4, 1]
    # offline the MATH sets draw exemplars from MATH-500 (asked questions excluded)
    assert runs["math-perturb-hard"][0].train_file == "/d/math500/test.jsonl"
    assert runs["gsm8k"][0].train_file is None
    (quick,) = munjal.configs(munjal.MunjalStudy(pair="p", sources=study.sources,
                                                 greedy=True))["gsm8k"]
    assert quick.roles == ("base", "instruct") and quick.decoding.strategy == "greedy"


def test_munjal_end_to_end(big_ctx_toml: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    import duckdb

    db = tmp_path / "m.duckdb"
    argv = ["munjal", "--pair", "tiny", "--models", str(big_ctx_toml), "--db", str(db),
            "--data-dir", str(DATA), "--datasets", "gsm8k,math500,math-perturb-hard",
            "--limit", "3", "--greedy", "--shots", "1", "--max-tokens", "6",
            "--grader", "gsm8k", "--format", "json"]
    doc = _run(capsys, argv)
    assert set(doc["tables"]) == {"munjal_gsm8k", "munjal_math500", "munjal_math-perturb-hard",
                                  "munjal_drop", "munjal_graders"}
    store = Store(db)
    prompts = [r[0] for r in store.query(
        "SELECT prompt FROM generations WHERE dataset = 'math500' AND mode = 'few-shot-cot' "
        "AND role = 'base'").rows]
    asked = {r[0] for r in store.query(
        "SELECT question FROM items WHERE dataset = 'math500'").rows}
    assert len(prompts) == 3 and all(p.count("Q: ") == 2 for p in prompts)
    assert all(p.split("\n\nQ: ")[0].removeprefix("Q: ").split("\nA:")[0].strip() not in asked
               for p in prompts)  # the exemplar is never an asked question
    # the grader table: the share of verdicts gsm8k's rule changes, as counted in SQL
    changed, n = store.query(
        "SELECT count(*) FILTER (WHERE g.correct <> x.correct), count(*) FROM generations g "
        "JOIN grades x ON x.generation_id = g.generation_id AND x.grader = 'gsm8k' "
        "WHERE g.dataset = 'math500' AND g.role = 'base' AND g.mode = 'zero-shot-cot'").rows[0]
    row = next(r for r in doc["tables"]["munjal_graders"] if r["dataset"] == "math500"
               and r["role"] == "base" and r["setting"] == "zero-shot-cot"
               and r["grader"] == "gsm8k")
    assert row["answers"] == n == 3 and row["changed"] == pytest.approx(changed / n)
    # set known verdicts, then re-print from the store: the drop is computed from them
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE generations SET correct = (item_id IN (SELECT DISTINCT item_id FROM "
                    "generations WHERE dataset = 'math500' ORDER BY item_id LIMIT 2)) "
                    "WHERE dataset = 'math500' AND role = 'instruct'")
        con.execute("UPDATE generations SET correct = (item_id = (SELECT min(item_id) FROM "
                    "generations WHERE dataset = 'math-perturb-hard')) "
                    "WHERE dataset = 'math-perturb-hard' AND role = 'instruct'")
    again = _run(capsys, [*argv, "--table-only"])
    assert _run(capsys, [*argv, "--table-only"]) == again  # the same store, the same tables
    drop = {(r["role"], r["setting"]): r for r in again["tables"]["munjal_drop"]}
    d = drop[("instruct", "zero-shot-cot")]
    assert d["math500"] == pytest.approx(2 / 3) and d["hard"] == pytest.approx(1 / 3)
    assert d["drop"] == pytest.approx(0.5) and d["paper"] == "38-62%"
    # 3 items: MATH-500 resamples with accuracy 0 (3.7%) leave the interval undefined
    from engine.analysis import stats

    ref = stats.independent_relative_drop_ci([1, 1, 0], [1, 0, 0])
    assert ref.low is None and d["low"] is None and d["high"] is None
    assert drop[("base", "zero-shot-cot")]["drop"] is None  # base accuracy 0: undefined
    inst = next(r for r in again["tables"]["munjal_math500"]
                if r["row"] == "instruct" and r["setting"] == "zero-shot-cot")
    assert inst["value"] == pytest.approx(2 / 3) and inst["n"] == 3
    diff = next(r for r in again["tables"]["munjal_math500"]
                if r["row"] == "instruct - base" and r["setting"] == "zero-shot-cot")
    assert diff["test"].startswith("mcnemar") or diff["p_value"] is not None


def test_munjal_refuses_a_second_grader_it_cannot_use(tmp_path: Path) -> None:
    from tunelens.commands.reproduce import cmd_reproduce

    db = str(tmp_path / "x.duckdb")
    with pytest.raises(UsageError, match="--grader extract-llm needs --extractor MODEL"):
        cmd_reproduce(["munjal", "--grader", "extract-llm", "--db", db])
    with pytest.raises(UsageError, match="--grader nope: unknown grader"):
        cmd_reproduce(["munjal", "--grader", "nope", "--db", db])
