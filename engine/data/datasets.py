"""Load benchmark items and few-shot exemplars: GSM8K, MedCalc-Bench, GSM-Plus, GSM-Symbolic,
any JSONL/CSV/Parquet file through a column map, and the embedded template set.

Why one module: every source ends up as the same `Item` records, with stable ids (so runs resume
and variants link to their originals), a normalised gold, and the extra fields graders need.
Local files always work offline; without a file the loaders try the Hugging Face Hub and, when it
cannot be reached, fail fast with one line that says to pass `--data-file`.

Schemas used (checked against the public files/dataset cards):
- GSM8K (`openai/gsm8k`, config `main`): `question`, `answer` = worked solution with `<<a*b=c>>`
  calculator annotations and a final `#### N` line.
- MedCalc-Bench v1.0 CSV (`ncbi/MedCalc-Bench-v1.0`): `Unique ID` (Hub/one_shot: `Row Number`),
  `Calculator ID`, `Calculator Name`, `Category`, `Output Type` (decimal | integer | date),
  `Note ID`, `Note Type`, `Patient Note`, `Question`, `Relevant Entities`, `Ground Truth Answer`,
  `Lower Limit`, `Upper Limit`, `Ground Truth Explanation`. The gestational-age calculator (id 69)
  is typed `integer` but its answer is a tuple like "('4 weeks', '3 days')": it is detected from
  the answer and typed `gestational_age`.
- MedCalc corrected labels (`test_corrected.csv`, 887 rows, physician-reviewed): `Unique ID`,
  `Calculator Name`, `Question`, `Patient Note`, `Ground Truth Answer`, `Lower Limit`,
  `Upper Limit`; joined on `Unique ID`. It re-asks gestational age as a number of days (so its
  question differs from v1.0's) and drops 160 rows, which are skipped (counted) when it is used.
- GSM-Plus (`qintongli/GSM-Plus`, split `test`): `question`, `solution`, `answer` (a plain number;
  "None" for the critical-thinking variants, which are skipped), `perturbation_type`,
  `seed_question`, `seed_solution`, `seed_answer`. No id column: rows get their index.
- GSM-Symbolic (`apple/GSM-Symbolic`, configs main/p1/p2, split `test`): `id` (template id),
  `instance`, `question`, `answer` (GSM8K style with `####`), `original_id`,
  `original_question`, `original_answer`, plus annotation columns that are not used.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
import socket
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from engine.data.embedded.templates import (
    TEMPLATES,
    default_items,
    format_number,
    instantiate,
    stable_int,
)
from engine.errors import DatasetError
from engine.records import AnswerType, Exemplar, Item

__all__ = [
    "COLUMN_KEYS",
    "DATASETS",
    "GSM8K_COT_EXEMPLARS",
    "PRESETS",
    "DatasetError",
    "DatasetInfo",
    "LoadResult",
    "gsm8k_exemplar_answer",
    "load_exemplars",
    "load_items",
    "medcalc_question",
    "normalize_number",
    "parse_column_map",
]

MAX_SKIP_REASONS = 5
HUB_PROBE_SECONDS = 3.0


@dataclass
class LoadResult:
    """Items loaded plus what was skipped and why (the first few reasons, for the user)."""

    items: list[Item]
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    source: str = ""  # the file or Hub id the items came from

    def skip(self, reason: str) -> None:
        self.skipped += 1
        if len(self.skip_reasons) < MAX_SKIP_REASONS:
            self.skip_reasons.append(reason)


@dataclass(frozen=True)
class DatasetInfo:
    """What `tunelens datasets` shows about a dataset, and where the Hub fallback points."""

    name: str
    description: str
    hub_id: str | None
    hub_config: str | None
    default_split: str
    answer_type: str
    how_to_load: str


DATASETS: dict[str, DatasetInfo] = {
    "embedded": DatasetInfo(
        "embedded",
        f"{len(TEMPLATES)} easy grade-school word problems written as templates for tunelens "
        "(1-3 steps); "
        "works offline and supports the `symbolic` perturbation",
        None, None, "test", "number",
        "built in: --dataset embedded (no file needed)",
    ),
    "gsm8k": DatasetInfo(
        "gsm8k",
        "GSM8K grade-school math, 1,319 test problems with worked solutions",
        "openai/gsm8k", "main", "test", "number",
        "--dataset gsm8k --data-file PATH/test.jsonl (a train.jsonl beside it gives few-shot "
        "exemplars); without --data-file: Hugging Face Hub openai/gsm8k (needs network)",
    ),
    "medcalc": DatasetInfo(
        "medcalc",
        "MedCalc-Bench v1.0 clinical calculations, 1,047 test notes (decimal, integer, date, "
        "gestational age answers)",
        "ncbi/MedCalc-Bench-v1.0", None, "test", "decimal|integer|date|gestational_age",
        "--dataset medcalc --data-file PATH/test_v1.0.csv (one_shot.csv beside it gives the "
        "one-shot exemplar per calculator; test_corrected.csv beside it gives corrected labels); "
        "without --data-file: Hub ncbi/MedCalc-Bench-v1.0",
    ),
    "gsm-plus": DatasetInfo(
        "gsm-plus",
        "GSM-Plus: 8 kinds of perturbed GSM8K test questions, loaded with their originals",
        "qintongli/GSM-Plus", None, "test", "number",
        "--dataset gsm-plus --data-file PATH (JSONL/CSV/Parquet with the GSM-Plus columns); "
        "without --data-file: Hub qintongli/GSM-Plus",
    ),
    "gsm-symbolic": DatasetInfo(
        "gsm-symbolic",
        "GSM-Symbolic: template instances of GSM8K test questions, loaded with their originals",
        "apple/GSM-Symbolic", "main", "test", "number",
        "--dataset gsm-symbolic --data-file PATH/test.jsonl (main, p1 or p2); "
        "without --data-file: Hub apple/GSM-Symbolic config main",
    ),
    "file": DatasetInfo(
        "file",
        "any JSONL/JSON/CSV/Parquet file of question/answer rows, optionally with variants "
        "linked to originals",
        None, None, "test", "number",
        "--dataset file --data-file PATH [--columns question=COL,answer=COL,id=COL,"
        "original_question=COL,original_answer=COL,perturbation_type=COL,solution=COL]",
    ),
}

_ALIASES = {
    "gsm_plus": "gsm-plus", "gsmplus": "gsm-plus",
    "gsm_symbolic": "gsm-symbolic", "gsmsymbolic": "gsm-symbolic",
    "medcalc-bench": "medcalc", "medcalc_bench": "medcalc",
    "default": "embedded",
}

# Keys a column map may bind (CLI: --columns question=problem,answer=final,id=idx).
COLUMN_KEYS: tuple[str, ...] = (
    "question", "answer", "id", "instance", "solution", "original_id", "original_question",
    "original_answer", "original_solution", "perturbation_type",
)
_REQUIRED_KEYS = ("question", "answer")

PRESETS: dict[str, dict[str, str]] = {
    "gsm-plus": {
        "question": "question", "answer": "answer", "solution": "solution",
        "perturbation_type": "perturbation_type", "original_question": "seed_question",
        "original_answer": "seed_answer", "original_solution": "seed_solution",
    },
    "gsm-symbolic": {
        "question": "question", "answer": "answer", "id": "id", "instance": "instance",
        "original_id": "original_id", "original_question": "original_question",
        "original_answer": "original_answer",
    },
}
_PRESET_PERTURBATION = {"gsm-symbolic": "gsm-symbolic"}


def _canonical_name(dataset: str) -> str:
    name = dataset.strip().lower()
    name = _ALIASES.get(name, name)
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    return name


# --------------------------------------------------------------------------- numbers

_DECIMAL_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)$")
_FRACTION_RE = re.compile(r"^[-+]?\d+\s*/\s*\d+$")


def normalize_number(text: Any) -> str | None:
    """Normalise a gold number ("1,200", "$18.00", "50%", "3/4") to GSM8K's form, else None."""
    if isinstance(text, bool) or text is None:
        return None
    if isinstance(text, int):
        return str(text)
    if isinstance(text, float):
        text = repr(text)
    s = str(text).strip().replace(",", "").replace(" ", "")
    s = s.removeprefix("$").removesuffix("%").rstrip(".")
    if s.startswith("-$"):
        s = "-" + s[2:]
    if _DECIMAL_RE.match(s):
        return format_number(Fraction(s.rstrip(".") or "0"))
    if _FRACTION_RE.match(s):
        num, den = (part.strip() for part in s.split("/"))
        if int(den) == 0:
            return None
        value = Fraction(int(num), int(den))
        if _terminates(value):
            return format_number(value)
        return f"{value.numerator}/{value.denominator}"
    return None


def _terminates(value: Fraction) -> bool:
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    return den == 1


def _gold_from_answer(answer: Any) -> tuple[str | None, str]:
    """Gold from a plain number or a GSM8K-style '... #### N' answer; returns (gold, raw)."""
    if answer is None:
        return None, ""
    raw = str(answer).strip()
    if "####" in raw:
        raw = raw.split("####")[-1].strip()
    return normalize_number(raw), raw


# --------------------------------------------------------------------------- file reading


def _read_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (location, row) from a JSONL/JSON/CSV/Parquet file; location is 'file:line'."""
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    if path.is_dir():
        raise DatasetError(f"{path}: is a directory; pass the data file itself")
    suffix = path.suffix.lower()
    name = path.name
    if suffix in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{name}:{lineno}: invalid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise DatasetError(f"{name}:{lineno}: expected a JSON object per line")
                yield f"{name}:{lineno}", row
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{name}:{exc.lineno}: invalid JSON ({exc.msg})") from None
        if isinstance(data, dict):
            lists = [v for v in data.values() if isinstance(v, list)]
            data = lists[0] if len(lists) == 1 else None
        if not isinstance(data, list):
            raise DatasetError(f"{name}: expected a JSON array of objects")
        for index, row in enumerate(data):
            if not isinstance(row, dict):
                raise DatasetError(f"{name}: element {index} is not a JSON object")
            yield f"{name}[{index}]", row
    elif suffix in (".csv", ".tsv"):
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
            for row in reader:
                # line_num is the physical line of the row's end; good enough for CSV.
                yield f"{name}:{reader.line_num}", dict(row)
    elif suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DatasetError(
                f"{name}: reading Parquet needs pyarrow (pip install pyarrow)"
            ) from None
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for broken files
            raise DatasetError(f"{name}: not a readable Parquet file ({_one_line(exc)})") from None
        for index, row in enumerate(table.to_pylist()):
            yield f"{name}:row {index}", row
    else:
        raise DatasetError(
            f"{name}: unsupported file type {suffix or '(none)'!r}; "
            "expected .jsonl, .json, .csv, .tsv or .parquet"
        )


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- Hugging Face Hub


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _hub_offline() -> bool:
    return any(_env_true(v) for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """A quick TCP probe of the Hub (or the HTTPS proxy) so `datasets` never hangs for minutes."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    target = urlparse(proxy) if proxy else urlparse(os.environ.get("HF_ENDPOINT",
                                                                   "https://huggingface.co"))
    host = target.hostname or "huggingface.co"
    port = target.port or (443 if target.scheme != "http" else 80)
    ok: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)  # DNS lookups ignore socket timeouts
    thread.start()
    thread.join(timeout + 1.0)
    return bool(ok)


def _hub_rows(hub_id: str, config: str | None, split: str, local_hint: str) -> Iterator[
        tuple[str, dict[str, Any]]]:
    """Rows of a Hub dataset split, or a one-line DatasetError that names --data-file."""
    fail = (f"could not load {hub_id} from the Hugging Face Hub ({{why}}): "
            f"pass --data-file PATH to a local {local_hint}")
    offline = _hub_offline()
    if not offline and not _hub_reachable():
        raise DatasetError(fail.format(why="offline? the Hub is unreachable"))
    try:
        import datasets as hf_datasets
    except ImportError:
        raise DatasetError(fail.format(why="the 'datasets' package is not installed")) from None
    try:
        ds = hf_datasets.load_dataset(hub_id, config, split=split)
    except Exception as exc:  # datasets raises many types; all mean "not available"
        why = "offline and not cached" if offline else _one_line(exc, 100)
        raise DatasetError(fail.format(why=why)) from None
    for index, row in enumerate(ds):
        yield f"{hub_id}[{split}]:{index}", dict(row)


# --------------------------------------------------------------------------- GSM8K


def _gsm8k_items(rows: Iterable[tuple[str, dict[str, Any]]], split: str, limit: int | None,
                 result: LoadResult, source: str) -> None:
    for index, (loc, row) in enumerate(rows):
        if limit is not None and len(result.items) >= limit:
            break
        if index == 0:
            _require_columns(source, row, ("question", "answer"),
                             hint="for other column names use --dataset file --columns ...")
        question = str(row.get("question") or "").strip()
        answer = row.get("answer")
        if not question:
            result.skip(f"{loc}: no question")
            continue
        answer_text = str(answer or "").strip()
        if "####" not in answer_text:
            result.skip(f"{loc}: answer has no '#### N' final line")
            continue
        gold, raw = _gold_from_answer(answer_text)
        if gold is None:
            result.skip(f"{loc}: gold is not a number ({raw!r})")
            continue
        result.items.append(Item(
            dataset="gsm8k", item_id=f"gsm8k-{split}-{index}", question=question, gold=gold,
            answer_type="number", solution=answer_text, fields={"split": split, "index": index},
        ))


def _require_columns(source: str, row: Mapping[str, Any], columns: Iterable[str],
                     hint: str = "") -> None:
    for column in columns:
        if column not in row:
            found = ", ".join(repr(k) for k in list(row)[:12])
            extra = f"; {hint}" if hint else ""
            raise DatasetError(f"{source}: no column {column!r} (found: {found}){extra}")


_ANNOTATION_RE = re.compile(r"<<[^<>]*>>")


def gsm8k_exemplar_answer(solution: str) -> str:
    """A GSM8K worked solution as a CoT exemplar answer, in lm-eval `gsm8k_cot` style.

    Calculator annotations `<<...>>` are removed, lines become sentences of one paragraph, and
    the `#### N` line becomes "The answer is N.".
    """
    text = _ANNOTATION_RE.sub("", solution)
    body, _, final = text.rpartition("####")
    if not _:
        body, final = text, ""
    sentences = []
    for line in body.splitlines():
        line = line.strip()
        if not line:
            continue
        sentences.append(line if line[-1] in ".!?" else line + ".")
    gold = normalize_number(final.strip()) if final.strip() else None
    if gold is not None:
        sentences.append(f"The answer is {gold}.")
    return " ".join(sentences)


# The 8 chain-of-thought exemplars of Wei et al. (2022) as used by lm-evaluation-harness's
# `gsm8k_cot` task (lm_eval/tasks/gsm8k/gsm8k-cot.yaml), verbatim including its quirks.
GSM8K_COT_EXEMPLARS: tuple[Exemplar, ...] = (
    Exemplar(
        "There are 15 trees in the grove. Grove workers will plant trees in the grove today. "
        "After they are done, there will be 21 trees. How many trees did the grove workers "
        "plant today?",
        "There are 15 trees originally. Then there were 21 trees after some more were planted. "
        "So there must have been 21 - 15 = 6. The answer is 6.",
    ),
    Exemplar(
        "If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in "
        "the parking lot?",
        "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5.",
    ),
    Exemplar(
        "Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they "
        "have left in total?",
        "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = "
        "74. After eating 35, they had 74 - 35 = 39. The answer is 39.",
    ),
    Exemplar(
        "Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How "
        "many lollipops did Jason give to Denny?",
        "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave "
        "Denny 20 - 12 = 8. The answer is 8.",
    ),
    Exemplar(
        "Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How "
        "many toys does he have now?",
        "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 "
        "more toys. 5 + 4 = 9. The answer is 9.",
    ),
    Exemplar(
        "There were nine computers in the server room. Five more computers were installed each "
        "day, from monday to thursday. How many computers are now in the server room?",
        "There were originally 9 computers. For each of 4 days, 5 more computers were added. "
        "So 5 * 4 = 20 computers were added. 9 + 20 is 29. The answer is 29.",
    ),
    Exemplar(
        "Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 "
        "more. How many golf balls did he have at the end of wednesday?",
        "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. "
        "After losing 2 more, he had 35 - 2 = 33 golf balls. The answer is 33.",
    ),
    Exemplar(
        "Olivia has $23. She bought five bagels for $3 each. How much money does she have "
        "left?",
        "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she "
        "has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8.",
    ),
)


# --------------------------------------------------------------------------- MedCalc-Bench

_GEST_RE = re.compile(r"^\(?\s*'?\s*(\d+)\s*weeks?\s*'?\s*,\s*'?\s*(\d+)\s*days?\s*'?\s*\)?$",
                      re.IGNORECASE)
_DATE_RE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")


def medcalc_question(patient_note: str, question: str) -> str:
    """The item text for a MedCalc row, laid out as MedCalc-Bench's own prompt does."""
    return (f"Here is the patient note:\n{patient_note.strip()}\n\n"
            f"Here is the task:\n{question.strip()}")


def _medcalc_gold(raw: str, output_type: str) -> tuple[str, AnswerType] | str:
    """(gold, answer_type) or a reason string when the answer does not fit its type."""
    raw = raw.strip()
    match = _GEST_RE.match(raw)
    if match:
        return f"({int(match.group(1))} weeks, {int(match.group(2))} days)", "gestational_age"
    if output_type == "date":
        return (raw, "date") if _DATE_RE.match(raw) else f"date is not MM/DD/YYYY ({raw!r})"
    if output_type in ("decimal", "integer"):
        gold = normalize_number(raw)
        if gold is None:
            return f"gold is not a number ({raw!r})"
        return gold, output_type  # type: ignore[return-value]
    return f"unknown Output Type {output_type!r}"


def _row_id(row: Mapping[str, Any]) -> str:
    for key in ("Unique ID", "Row Number"):
        value = row.get(key)
        if value not in (None, ""):
            return str(value).strip()
    return ""


def _medcalc_items(rows: Iterable[tuple[str, dict[str, Any]]], limit: int | None,
                   result: LoadResult, source: str,
                   corrected: dict[str, dict[str, Any]] | None) -> None:
    needed = ("Calculator ID", "Calculator Name", "Output Type", "Patient Note", "Question",
              "Ground Truth Answer")
    for index, (loc, row) in enumerate(rows):
        if limit is not None and len(result.items) >= limit:
            break
        if index == 0:
            _require_columns(source, row, needed)
            if not _row_id(row):
                raise DatasetError(f"{source}: no 'Unique ID' or 'Row Number' column")
        uid = _row_id(row)
        question_text = str(row.get("Question") or "")
        note = str(row.get("Patient Note") or "")
        answer = str(row.get("Ground Truth Answer") or "")
        lower, upper = row.get("Lower Limit"), row.get("Upper Limit")
        labels = "v1.0"
        if corrected is not None:
            fix = corrected.get(uid)
            if fix is None:
                result.skip(f"{loc}: Unique ID {uid} has no corrected label")
                continue
            question_text = str(fix.get("Question") or question_text)
            note = str(fix.get("Patient Note") or note)
            answer = str(fix.get("Ground Truth Answer") or "")
            lower, upper = fix.get("Lower Limit"), fix.get("Upper Limit")
            labels = "corrected"
        if not note.strip() or not question_text.strip():
            result.skip(f"{loc}: no patient note or question")
            continue
        output_type = str(row.get("Output Type") or "").strip().lower()
        if labels == "corrected" and answer.strip().upper() in ("N/A", "NA", ""):
            result.skip(f"{loc}: corrected label of Unique ID {uid} is N/A (judged not computable)")
            continue
        gold = _medcalc_gold(answer, output_type)
        if isinstance(gold, str):
            result.skip(f"{loc}: {gold}")
            continue
        gold_text, answer_type = gold
        item_id = f"medcalc-{uid}" if labels == "v1.0" else f"medcalc-corrected-{uid}"
        result.items.append(Item(
            dataset="medcalc", item_id=item_id,
            question=medcalc_question(note, question_text), gold=gold_text,
            answer_type=answer_type,
            # v1.0's explanation does not match corrected labels, so it is kept only for v1.0.
            solution=(str(row.get("Ground Truth Explanation") or "") or None)
            if labels == "v1.0" else None,
            fields={
                "unique_id": uid,
                "labels": labels,
                "patient_note": note,
                "calculator_question": question_text,
                "calculator_id": str(row.get("Calculator ID") or "").strip(),
                "calculator_name": str(row.get("Calculator Name") or "").strip(),
                "category": str(row.get("Category") or "").strip(),
                "output_type": output_type,
                "note_id": str(row.get("Note ID") or "").strip(),
                "note_type": str(row.get("Note Type") or "").strip(),
                "relevant_entities": str(row.get("Relevant Entities") or ""),
                "ground_truth_answer": answer.strip(),
                "lower_limit": str(lower).strip() if lower not in (None, "") else None,
                "upper_limit": str(upper).strip() if upper not in (None, "") else None,
            },
        ))


def _load_corrected(path: Path) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for index, (_, row) in enumerate(_read_rows(path)):
        if index == 0:
            _require_columns(path.name, row, ("Unique ID", "Ground Truth Answer"))
        table[str(row["Unique ID"]).strip()] = row
    return table


# --------------------------------------------------------------------------- mapped files


def parse_column_map(spec: str) -> dict[str, str]:
    """Parse the CLI's "question=problem,answer=final,id=idx" into {key: column}."""
    mapping: dict[str, str] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key, sep, column = part.partition("=")
        key, column = key.strip(), column.strip()
        if not sep or not key or not column:
            raise DatasetError(f"--columns: expected KEY=COLUMN, got {part!r}")
        if key not in COLUMN_KEYS:
            raise DatasetError(f"--columns: unknown key {key!r}; known: {', '.join(COLUMN_KEYS)}")
        mapping[key] = column
    return mapping


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "file"


def _short_hash(text: str) -> str:
    return hashlib.sha1(" ".join(text.split()).encode()).hexdigest()[:12]


def _mapped_items(rows: Iterable[tuple[str, dict[str, Any]]], dataset: str, split: str,
                  mapping: Mapping[str, str], explicit: set[str], limit: int | None,
                  result: LoadResult, source: str) -> None:
    """Rows → items through a column map; variants are preceded by their (deduplicated) original.

    `explicit` holds the keys the caller mapped on purpose: a missing column for those is an
    error; other keys (defaults, presets' optional columns) simply do not apply.
    """
    default_perturbation = _PRESET_PERTURBATION.get(dataset)
    seen_ids: set[str] = set()
    originals: set[str] = set()
    active: dict[str, str] = {}
    taken = 0  # items counted against `limit` (originals brought along do not count)
    for index, (loc, row) in enumerate(rows):
        if index == 0:
            for key, column in mapping.items():
                if column in row:
                    active[key] = column
                elif key in explicit or key in _REQUIRED_KEYS:
                    found = ", ".join(repr(k) for k in list(row)[:12])
                    raise DatasetError(
                        f"{source}: no column {column!r} for {key} (found: {found})"
                    )
        if limit is not None and taken >= limit:
            break

        def get(key: str, row: dict[str, Any] = row) -> Any:
            column = active.get(key)
            return None if column is None else row.get(column)

        question = str(get("question") or "").strip()
        if not question:
            result.skip(f"{loc}: no question")
            continue
        gold, raw = _gold_from_answer(get("answer"))
        if gold is None:
            result.skip(f"{loc}: gold is not a number ({raw!r})")
            continue
        answer_text = str(get("answer") or "")
        solution = get("solution")
        solution = str(solution) if solution not in (None, "") else (
            answer_text if "####" in answer_text else None)

        raw_id = get("id")
        if raw_id not in (None, ""):
            item_id = f"{dataset}-{raw_id}"
            instance = get("instance")
            if instance not in (None, ""):
                item_id += f"-{instance}"
        else:
            item_id = f"{dataset}-{split}-{index}"
        if item_id in seen_ids:
            result.skip(f"{loc}: duplicate id {item_id!r}")
            continue

        # The original this row is a variant of, if the file says so.
        original_id: str | None = None
        orig_question = str(get("original_question") or "").strip()
        raw_orig_id = get("original_id")
        if orig_question:
            key = str(raw_orig_id) if raw_orig_id not in (None, "") else _short_hash(orig_question)
            original_id = f"{dataset}-orig-{key}"
            if original_id not in originals:
                orig_gold, orig_raw = _gold_from_answer(get("original_answer"))
                if orig_gold is None:
                    result.skip(f"{loc}: original's gold is not a number ({orig_raw!r})")
                    original_id = None
                else:
                    orig_answer = str(get("original_answer") or "")
                    orig_solution = get("original_solution")
                    originals.add(original_id)
                    seen_ids.add(original_id)
                    result.items.append(Item(
                        dataset=dataset, item_id=original_id, question=orig_question,
                        gold=orig_gold, answer_type="number",
                        solution=str(orig_solution) if orig_solution not in (None, "") else (
                            orig_answer if "####" in orig_answer else None),
                        fields={"source": source, "role": "original"},
                    ))
        elif raw_orig_id not in (None, ""):
            original_id = str(raw_orig_id)  # links to an item the user loads separately

        perturbation_type = get("perturbation_type")
        perturbation = None
        fields: dict[str, Any] = {"source": source, "row": index}
        if original_id is not None:
            perturbation = (str(perturbation_type).strip() if perturbation_type not in (None, "")
                            else default_perturbation or "variant")
            fields["role"] = "variant"
            if raw_orig_id not in (None, ""):
                fields["source_original_id"] = str(raw_orig_id)
        if perturbation_type not in (None, ""):
            fields["perturbation_type"] = str(perturbation_type)
        seen_ids.add(item_id)
        taken += 1
        result.items.append(Item(
            dataset=dataset, item_id=item_id, question=question, gold=gold,
            answer_type="number", solution=solution, fields=fields,
            original_id=original_id, perturbation=perturbation,
        ))


# --------------------------------------------------------------------------- public API


def load_items(
    dataset: str,
    data_file: str | Path | None = None,
    *,
    split: str = "test",
    limit: int | None = None,
    columns: Mapping[str, str] | None = None,
    corrected_file: str | Path | bool | None = None,
) -> LoadResult:
    """Load a dataset's items from a local file or, without one, from the Hugging Face Hub.

    `limit` caps the items taken (skipped rows do not count; for variant files the originals
    that come along with their variants do not count either). `columns` overrides the column
    map of `file`, `gsm-plus` and `gsm-symbolic`. `corrected_file` (MedCalc only): True uses
    `test_corrected.csv` beside `data_file`, a path uses that file; corrected items get ids
    `medcalc-corrected-<Unique ID>`, and rows the corrected file lacks or marks N/A are skipped.
    """
    name = _canonical_name(dataset)
    if limit is not None and limit < 0:
        raise DatasetError(f"limit must be >= 0, got {limit}")
    path = Path(data_file).expanduser() if data_file is not None else None
    info = DATASETS[name]

    if name == "embedded":
        if path is not None:
            raise DatasetError("dataset 'embedded' is built in; it takes no --data-file")
        return LoadResult(items=default_items(limit), source="embedded templates")

    if name == "file" and path is None:
        raise DatasetError("dataset 'file' needs --data-file PATH (JSONL, JSON, CSV or Parquet)")

    if path is not None:
        rows: Iterable[tuple[str, dict[str, Any]]] = _read_rows(path)
        source = path.name
    else:
        hint = {"gsm8k": f"{split}.jsonl", "medcalc": "test_v1.0.csv"}.get(name, "data file")
        assert info.hub_id is not None
        rows = _hub_rows(info.hub_id, info.hub_config, split, hint)
        source = info.hub_id
    result = LoadResult(items=[], source=str(path) if path is not None else info.hub_id or "")

    if name == "gsm8k":
        _gsm8k_items(rows, split, limit, result, source)
    elif name == "medcalc":
        corrected = None
        if corrected_file not in (None, False):
            if corrected_file is True:
                if path is None:
                    raise DatasetError("corrected MedCalc labels need --data-file beside "
                                       "test_corrected.csv, or the corrected file's path")
                cpath = path.parent / "test_corrected.csv"
            else:
                cpath = Path(corrected_file).expanduser()  # type: ignore[arg-type]
            corrected = _load_corrected(cpath)
        _medcalc_items(rows, limit, result, source, corrected)
    else:
        preset = PRESETS.get(name, {})
        if name == "file":
            base = {"question": "question", "answer": "answer"}
            # Optional keys bind automatically when a column of that name exists.
            base.update({k: k for k in COLUMN_KEYS if k not in base})
        else:
            base = dict(preset)
        explicit = set(columns or {})
        mapping = {**base, **(columns or {})}
        dataset_name = _slug(path.stem) if name == "file" and path is not None else name
        _mapped_items(rows, dataset_name, split, mapping, explicit, limit, result, source)
    return result


def _train_rows_gsm8k(train_file: Path | None) -> Iterator[tuple[str, dict[str, Any]]]:
    if train_file is not None:
        return _read_rows(train_file)
    return _hub_rows("openai/gsm8k", "main", "train", "train.jsonl (via --train-file)")


def load_exemplars(
    dataset: str,
    k: int,
    seed: int,
    *,
    train_file: str | Path | None = None,
    data_file: str | Path | None = None,
    exclude_ids: Iterable[str] = frozenset(),
    exclude_questions: Iterable[str] = frozenset(),
    calculator_id: str | int | None = None,
) -> list[Exemplar]:
    """k worked exemplars for few-shot prompts, chosen reproducibly by `seed`.

    - gsm8k / gsm-plus / gsm-symbolic / file: random GSM8K train problems (from `train_file`,
      else the train.jsonl beside `data_file`, else the Hub train split), answers rewritten by
      `gsm8k_exemplar_answer`. For the fixed lm-eval 8-shot set use GSM8K_COT_EXEMPLARS.
    - medcalc: from one_shot.csv (`train_file`, else beside `data_file`), rows of the same
      `calculator_id`; question = patient note + task, answer = explanation + "The answer is X."
    - embedded: other templates instantiated with non-default seeds.
    Items whose id is in `exclude_ids` (or whose question is in `exclude_questions`) are never
    returned, so an exemplar is never the item being asked.
    """
    if k <= 0:
        return []
    name = _canonical_name(dataset)
    excluded = set(exclude_ids)
    excluded_q = {" ".join(q.split()) for q in exclude_questions}
    rng = random.Random(stable_int("exemplars", name, seed, calculator_id))
    tpath = Path(train_file).expanduser() if train_file is not None else None
    dpath = Path(data_file).expanduser() if data_file is not None else None

    if name == "embedded":
        names = [t.name for t in TEMPLATES
                 if not any(i == f"embedded-{t.name}" or i.startswith(f"embedded-{t.name}-s")
                            for i in excluded)]
        rng.shuffle(names)
        out = []
        for tname in names:
            item = instantiate(tname, 1 + stable_int("exemplar", tname, seed) % 1_000_000)
            if " ".join(item.question.split()) in excluded_q:
                continue
            out.append(Exemplar(item.question, item.solution or f"The answer is {item.gold}."))
            if len(out) == k:
                break
        return out

    if name == "medcalc":
        if tpath is None and dpath is not None and (dpath.parent / "one_shot.csv").exists():
            tpath = dpath.parent / "one_shot.csv"
        if tpath is None:
            raise DatasetError("MedCalc exemplars need one_shot.csv: pass --train-file PATH "
                               "(or put one_shot.csv beside --data-file)")
        rows = [row for _, row in _read_rows(tpath)]
        if rows:
            _require_columns(tpath.name, rows[0], ("Calculator ID", "Patient Note", "Question",
                                                   "Ground Truth Answer"))
        if calculator_id is not None:
            want = str(calculator_id).strip()
            rows = [r for r in rows if str(r.get("Calculator ID") or "").strip() == want]
            if not rows:
                raise DatasetError(f"{tpath.name}: no exemplar for Calculator ID {want}")
        order = list(range(len(rows)))
        rng.shuffle(order)
        out = []
        for i in order:
            row = rows[i]
            if f"medcalc-oneshot-{_row_id(row)}" in excluded:
                continue
            question = medcalc_question(str(row["Patient Note"]), str(row["Question"]))
            if " ".join(question.split()) in excluded_q:
                continue
            gold = _medcalc_gold(str(row["Ground Truth Answer"]),
                                 str(row.get("Output Type") or "").strip().lower())
            answer_text = gold[0] if isinstance(gold, tuple) else str(row["Ground Truth Answer"])
            explanation = str(row.get("Ground Truth Explanation") or "").strip()
            out.append(Exemplar(question, f"{explanation} The answer is {answer_text}.".strip()))
            if len(out) == k:
                break
        return out

    # GSM8K-style exemplars for gsm8k and the GSM8K-derived sets.
    if tpath is None and dpath is not None and (dpath.parent / "train.jsonl").exists():
        tpath = dpath.parent / "train.jsonl"
    rows = [row for _, row in _train_rows_gsm8k(tpath)]
    order = list(range(len(rows)))
    rng.shuffle(order)
    out = []
    for i in order:
        row = rows[i]
        question = str(row.get("question") or "").strip()
        answer = str(row.get("answer") or "")
        if (not question or "####" not in answer or f"gsm8k-train-{i}" in excluded
                or " ".join(question.split()) in excluded_q):
            continue
        out.append(Exemplar(question, gsm8k_exemplar_answer(answer)))
        if len(out) == k:
            break
    return out
