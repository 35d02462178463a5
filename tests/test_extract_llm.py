"""The extract-llm grader: cleaning, comparators, the extractions cache, regrade and agreement.

A deterministic fake extractor stands in for the model in the logic tests; the CLI tests use the
tiny real GGUF models (llama.cpp, milliseconds a call) and the demo test the real SmolLM2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_report import gen, start_run

from engine.analysis import ReportFilters, build_report, regrade
from engine.errors import GraderError, PromptTooLong
from engine.grading import GRADERS, ExtractLLMGrader, Extractor, clean_extraction, grade
from engine.grading.extract_llm import (
    PROMPT_VERSION,
    cache_key,
    comparator_for,
    compare,
    extraction_messages,
)
from engine.inference.sources import file_sha256
from engine.records import Item
from engine.render import report_tables, to_markdown
from engine.store.store import Store

REPO = Path(__file__).resolve().parents[1]


class ReplyBook:
    """A deterministic extractor: the reply written for each output, else the output's last word.

    Counts its calls, so a test sees when the cache spared one; `fail_after` raises
    KeyboardInterrupt on that call (a Ctrl+C in the middle of a regrade).
    """

    def __init__(self, replies: dict[str, str], *, name: str = "book", id: str = "sha-book",
                 fail_after: int | None = None) -> None:
        self.replies = replies
        self.name = name
        self.id = id
        self.calls: list[tuple[str, str]] = []
        self.fail_after = fail_after

    def extract(self, question: str, output: str) -> str:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt
        self.calls.append((question, output))
        return self.replies.get(output, " " + output.split()[-1])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" 8.", "8"),
        (" **42**.", "42"),
        (" $x = \\frac{7}{3}$.", "\\frac{7}{3}"),
        (" 16 - 3 - 4 = 9 eggs.", "9 eggs"),
        (": $18", "$18"),
        (" is 1,000.\nQ: next question", "1,000"),
        (" x = 1, y = 2", "x = 1, y = 2"),  # several parts: the whole answer stays
        (" x >= 3.", "x >= 3"),  # an inequality is the answer, not its right-hand side
        ("", ""),
        (" none", "none"),
    ],
)
def test_clean_extraction(raw: str, expected: str) -> None:
    assert clean_extraction(raw) == expected


def test_prompt_is_fixed_and_bounded() -> None:
    system, user = extraction_messages("How many?", "x" * 10_000 + " The answer is 7.")
    assert system["role"] == "system" and "final answer" in system["content"]
    assert user["content"].startswith("Question: How many?\n\nResponse: ")
    assert "The answer is 7." in user["content"] and len(user["content"]) < 3200
    assert PROMPT_VERSION == "extract-v1"  # a changed prompt must bump the version


def test_comparators_by_item() -> None:
    gsm = Item("gsm8k", "1", "How many?", "1000")
    assert comparator_for(gsm) == "gsm8k"
    assert compare(gsm, "1,000").correct and not compare(gsm, "100").correct
    med = Item("medcalc", "2", "Due date?", "03/15/2020", answer_type="date")
    assert comparator_for(med) == "medcalc"
    judged = compare(med, "03/15/2020")
    assert judged.correct and judged.grader == "medcalc" and judged.detail.startswith("date:")
    assert not compare(med, "03/16/2020").correct
    latex = Item("d", "3", "Solve.", "\\frac{7}{3}")
    assert compare(latex, "\\frac{14}{6}", "math-verify").correct
    assert not compare(latex, "\\frac{7}{2}", "math-verify").correct


def test_unconfigured_grader_says_what_it_needs() -> None:
    assert "extract-llm" in GRADERS
    with pytest.raises(GraderError, match="--extractor MODEL"):
        grade(Item("d", "1", "q", "1"), "1", "extract-llm")


def test_grader_caches_by_output_and_prompt_version() -> None:
    book = ReplyBook({"It is 3 then 4.": " 4."})
    assert isinstance(book, Extractor)
    grader = ExtractLLMGrader(book)
    item = Item("d", "1", "How many?", "4")
    g = grader(item, "It is 3 then 4.")
    assert (g.extracted, g.correct, g.rule, g.grader) == ("4", True, "extract-llm:book",
                                                         "extract-llm")
    assert "gsm8k: 4 = gold 4" in g.detail
    assert grader(item, "It is 3 then 4.") == g and grader.calls == 1  # same output: cached
    assert book.calls == [("How many?", "It is 3 then 4.")]
    (made,) = grader.drain()
    assert (made.extractor_id, made.prompt_version, made.raw) == ("sha-book", PROMPT_VERSION,
                                                                  " 4.")
    assert (made.extractor_id, made.prompt_version, made.output_sha256) == cache_key(
        "sha-book", "It is 3 then 4.")
    assert grader.drain() == []
    other = ExtractLLMGrader(book, grader.cache, prompt_version="extract-v0")
    other(item, "It is 3 then 4.")
    assert other.calls == 1  # another prompt version: asked again


OUTPUTS = [
    # (output, primary verdict of the gsm8k rule grader, what the fake extractor replies)
    ("3 + 5 = 8. The answer is 8.", True, " 8."),
    ("4 * 7 = 28\nQ: Sara has 5 cats. How many legs?\nA: 20.", True, " 20."),  # flips
    ("I think 12, no wait: 15.", False, " 15."),  # flips the other way
    ("3 + 5 = 8. The answer is 8.", True, " 8."),  # the same output again: one call for both
    ("No idea.", False, " none"),
]


def answers_store(path: Path, run_id: str = "r1") -> Store:
    """A store with the five answers above to items whose gold is 8, 28, 15, 8, 3."""
    store = Store(path)
    start_run(store, run_id)
    golds = ["8", "28", "15", "8", "3"]
    store.record_items([Item("d", f"q{i}", f"question {i}?", g) for i, g in enumerate(golds)])
    rows, grades = [], []
    for i, (out, ok, _) in enumerate(OUTPUTS):
        r = gen(run_id, f"q{i}", "instruct", "zero-shot-cot", ok, output=out)
        rows.append(r)
        grades.append({"generation_id": r["generation_id"], "grader": "gsm8k",
                       "extracted": None, "correct": ok, "rule": "answer-is"})
    store.insert_generations(rows, grades)
    return store


def book() -> ReplyBook:
    return ReplyBook({out: reply for out, _, reply in OUTPUTS})


def test_regrade_stores_extractions_and_shows_agreement(tmp_path: Path) -> None:
    store = answers_store(tmp_path / "s.duckdb")
    fake = book()
    result = regrade(store, ExtractLLMGrader(fake))
    assert (result.graded, result.already, result.changed, result.model_calls) == (5, 0, 2, 4)
    assert len(fake.calls) == 4 and fake.calls[0][0] == "question 0?"
    grades = store.query(
        "SELECT item_id, x.extracted, x.correct, x.rule FROM grades x JOIN generations USING "
        "(generation_id) WHERE x.grader = 'extract-llm' ORDER BY item_id"
    ).rows
    assert grades == [
        ("q0", "8", True, "extract-llm:book"),
        ("q1", "20", False, "extract-llm:book"),
        ("q2", "15", True, "extract-llm:book"),
        ("q3", "8", True, "extract-llm:book"),
        ("q4", "none", False, "extract-llm:book"),
    ]
    cached = store.query(
        "SELECT extractor_id, prompt_version, extractor_name, extracted FROM extractions "
        "ORDER BY extracted"
    ).rows
    assert cached == [("sha-book", PROMPT_VERSION, "book", r) for r in
                      [" 15.", " 20.", " 8.", " none"]]
    # The cache key is the sha256 of the output: SQL can join it back to the answers.
    joined = store.query(
        "SELECT count(*) FROM generations g "
        "JOIN extractions e ON e.output_sha256 = sha256(g.output)"
    ).rows[0][0]
    assert joined == 5

    report = build_report(store)
    (row,) = report.agreement
    assert (row.grader_a, row.grader_b) == ("extract-llm", "gsm8k")
    assert (row.n, row.both_correct, row.a_only, row.b_only, row.both_wrong) == (5, 2, 1, 1, 1)
    assert row.agreement == pytest.approx(0.6)
    flips = {(d.item_id, d.correct_a, d.correct_b, d.extracted_a) for d in report.disagreements}
    assert flips == {("q1", False, True, "20"), ("q2", True, False, "15")}
    md = to_markdown(report)
    assert "grader agreement" in md and "grader disagreements" in md and "extract-llm" in md
    tables = {t.key: t for t in report_tables(report)}
    assert len(tables["disagreements"].rows) == 2
    by_llm = build_report(store, ReportFilters(grader="extract-llm"))
    assert by_llm.accuracy[0].accuracy == pytest.approx(0.6)


def test_second_regrade_makes_no_model_call(tmp_path: Path) -> None:
    store = answers_store(tmp_path / "s.duckdb")
    regrade(store, ExtractLLMGrader(book()))
    again = book()
    result = regrade(store, ExtractLLMGrader(again))
    assert (result.graded, result.already, result.model_calls) == (0, 5, 0) and not again.calls

    # The same outputs in another run (or after its grades were dropped): all from the cache.
    with store.connect() as con:
        con.execute("DELETE FROM grades WHERE grader = 'extract-llm'")
    before = store.query("SELECT * FROM extractions ORDER BY output_sha256").rows
    third = book()
    result = regrade(store, ExtractLLMGrader(third))
    assert (result.graded, result.model_calls) == (5, 0) and not third.calls
    assert store.query("SELECT * FROM extractions ORDER BY output_sha256").rows == before

    # Another extractor (other weights) is asked afresh.
    with store.connect() as con:
        con.execute("DELETE FROM grades WHERE grader = 'extract-llm'")
    other = ReplyBook({}, id="sha-other", name="other")
    assert regrade(store, ExtractLLMGrader(other)).model_calls == 4


def test_interrupted_regrade_resumes_without_repeating(tmp_path: Path) -> None:
    store = answers_store(tmp_path / "s.duckdb")
    first = ReplyBook(book().replies, fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        regrade(store, ExtractLLMGrader(first))
    kept = store.query("SELECT count(*) FROM grades WHERE grader = 'extract-llm'").rows[0][0]
    assert kept == 2 and len(first.calls) == 2
    assert store.query("SELECT count(*) FROM extractions").rows[0][0] == 2
    rest = book()
    result = regrade(store, ExtractLLMGrader(rest))
    assert (result.graded, result.already) == (3, 2)
    assert len(rest.calls) == 2  # q3 repeats q0's output: cached from the first attempt
    assert store.query("SELECT count(*) FROM grades WHERE grader = 'extract-llm'").rows[0][0] == 5


def tunelens(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tunelens", *args, "--db", str(db)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )


def test_cli_regrade_with_a_real_tiny_extractor(tmp_path: Path, tiny_models_toml: Path) -> None:
    db = tmp_path / "s.duckdb"
    answers_store(db)
    models = str(tiny_models_toml)
    proc = tunelens("regrade", "--grader", "extract-llm", "--extractor", "tiny-instruct",
                    "--models", models, db=db)
    assert proc.returncode == 0, proc.stderr
    assert "extract-llm: graded 5 answers" in proc.stderr and "4 extractor calls" in proc.stderr
    store = Store(db)
    instruct = next(p for p in tiny_models_toml.parent.iterdir() if p.name == "tiny-instruct.gguf")
    ids = store.query("SELECT DISTINCT extractor_id, extractor_name FROM extractions").rows
    assert ids == [(file_sha256(instruct), "tiny-instruct")]
    rules = store.query("SELECT DISTINCT rule FROM grades WHERE grader = 'extract-llm'").rows
    assert rules == [("extract-llm:tiny-instruct",)]
    proc = tunelens("regrade", "--grader", "extract-llm", "--extractor", "tiny-instruct",
                    "--models", models, db=db)
    assert proc.returncode == 0 and "graded 0 answers (5 already" in proc.stderr
    assert "0 extractor calls" in proc.stderr
    proc = tunelens("report", "--format", "markdown", db=db)
    assert "grader agreement" in proc.stdout and "extract-llm" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grader", "extract-llm"], "--grader extract-llm needs --extractor MODEL"),
        (["--grader", "extract-llm", "--extractor", "nope"],
         "unknown extractor model 'nope' (models: tiny-base, tiny-instruct)"),
        (["--grader", "extract-llm", "--extractor", "tiny-base"],
         "extractor model 'tiny-base' has no chat template"),
        (["--grader", "gsm8k", "--extractor", "tiny-instruct"],
         "--extractor: only the extract-llm grader uses one"),
    ],
)
def test_cli_regrade_errors_are_one_line(
    tmp_path: Path, tiny_models_toml: Path, args: list[str], message: str
) -> None:
    db = tmp_path / "s.duckdb"
    answers_store(db)
    proc = tunelens("regrade", *args, "--models", str(tiny_models_toml), db=db)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    count = Store(db).query("SELECT count(*) FROM grades WHERE grader = 'extract-llm'").rows
    assert count[0][0] == 0


def test_run_refuses_extract_llm_as_primary_grader(tmp_path: Path) -> None:
    proc = tunelens("--headless", "--grader", "extract-llm", db=tmp_path / "s.duckdb")
    assert proc.returncode == 2
    assert "tunelens regrade --grader extract-llm --extractor MODEL" in proc.stderr
    proc = tunelens("--headless", "--grader", "nope", db=tmp_path / "s.duckdb")
    assert proc.returncode == 2 and "--grader: unknown grader 'nope'" in proc.stderr


def test_headless_run_grades_each_answer_with_the_extractor_too(
    tmp_path: Path, tiny_models_toml: Path, gsm8k_file: Path
) -> None:
    db = tmp_path / "s.duckdb"
    args = ["--headless", "--pair", "tiny", "--models", str(tiny_models_toml), "--dataset",
            "gsm8k", "--data-file", str(gsm8k_file), "--limit", "2", "--max-tokens", "8",
            "--extractor", "tiny-instruct"]
    proc = tunelens(*args, db=db)
    assert proc.returncode == 0, proc.stderr
    assert "extract-llm (tiny-instruct): 4 verdicts" in proc.stderr
    store = Store(db)
    pairs = store.query(
        "SELECT g.grader, x.grader, x.rule, e.extractor_name FROM generations g "
        "JOIN grades x ON x.generation_id = g.generation_id AND x.grader <> g.grader "
        "JOIN extractions e ON e.output_sha256 = sha256(g.output)"
    ).rows
    assert sorted(pairs) == [("gsm8k", "extract-llm", "extract-llm:tiny-instruct",
                              "tiny-instruct")] * 4
    rows = build_report(store).agreement
    assert [(r.role, r.grader_a, r.grader_b, r.n) for r in rows] == [
        ("base", "extract-llm", "gsm8k", 2), ("instruct", "extract-llm", "gsm8k", 2)]
    # The extractor is not part of the run's identity: resuming without it finds the run done.
    again = tunelens(*args[:-2], "--resume", db=db)
    assert again.returncode == 0 and "is complete: nothing to resume" in again.stdout + again.stderr


def test_app_run_refuses_an_extractor(tmp_path: Path) -> None:
    proc = tunelens("--extractor", "smollm2-135m-instruct-q4_1", db=tmp_path / "s.duckdb")
    assert proc.returncode == 2 and "--extractor: headless runs only" in proc.stderr


DEMO_EXTRACTOR = "smollm2-135m-instruct-q4_1"


@pytest.mark.demo
def test_demo_instruct_model_as_extractor(tmp_path: Path) -> None:
    """The real SmolLM2-135M-Instruct extracts, offline; the report shows grader agreement."""
    db = tmp_path / "s.duckdb"
    answers_store(db)
    proc = subprocess.run(
        [sys.executable, "-m", "tunelens", "regrade", "--grader", "extract-llm", "--extractor",
         DEMO_EXTRACTOR, "--db", str(db)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "graded 5 answers" in proc.stderr and "4 extractor calls" in proc.stderr
    store = Store(db)
    from engine.inference.config import load_config
    from engine.inference.sources import resolve

    sha = resolve(load_config(REPO / "models.toml").models[DEMO_EXTRACTOR]).sha256
    assert store.query("SELECT DISTINCT extractor_id FROM extractions").rows == [(sha,)]
    got = dict(store.query(
        "SELECT g.item_id, x.extracted FROM grades x JOIN generations g USING (generation_id) "
        "WHERE x.grader = 'extract-llm' AND x.rule = ?", [f"extract-llm:{DEMO_EXTRACTOR}"]
    ).rows)
    assert set(got) == {"q0", "q1", "q2", "q3", "q4"}
    assert got["q0"] == got["q3"] == "8"  # "The answer is 8.": even a 135M model copies that
    report = tunelens("report", "--format", "markdown", db=db).stdout
    assert "## grader agreement" in report and "extract-llm" in report


async def test_app_report_screen_shows_agreement_and_flips(tmp_path: Path) -> None:
    from test_tui_report import make_app, report_ready
    from textual.widgets import DataTable

    store = answers_store(tmp_path / "s.duckdb")
    regrade(store, ExtractLLMGrader(book()))
    async with make_app(tmp_path, store).run_test(size=(120, 40)) as pilot:
        screen = await report_ready(pilot)
        agreement = screen.query_one("#table-agreement", DataTable)
        assert agreement.row_count == 1
        cells = [str(c) for c in agreement.get_row_at(0)]
        assert "extract-llm" in cells and "gsm8k" in cells
        assert any(c.startswith("60.0%") for c in cells)
        flips = screen.query_one("#table-disagreements", DataTable)
        assert flips.row_count == 2
        items = {str(flips.get_row_at(i)[1]) for i in range(2)}
        assert items == {"q1", "q2"}


class TooLong(ReplyBook):
    def extract(self, question: str, output: str) -> str:
        if len(output) > 20:
            raise PromptTooLong("prompt of 5000 tokens leaves no room in the context of 1024")
        return super().extract(question, output)


def test_an_output_too_long_for_the_extractor_is_an_error_grade(tmp_path: Path) -> None:
    store = answers_store(tmp_path / "s.duckdb")
    result = regrade(store, ExtractLLMGrader(TooLong(book().replies)))
    assert (result.graded, result.errors) == (5, 4)  # only "No idea." fits
    rules = store.query(
        "SELECT rule, count(*) FROM grades WHERE grader = 'extract-llm' GROUP BY ALL ORDER BY 1"
    ).rows
    assert rules == [("error", 4), ("extract-llm:book", 1)]
    assert store.query("SELECT count(*) FROM extractions").rows[0][0] == 1  # errors not cached
    (row,) = build_report(store).agreement
    assert row.n == 1  # error grades are left out of agreement
