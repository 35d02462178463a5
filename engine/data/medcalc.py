"""MedCalc-Bench v1.0 (`ncbi/MedCalc-Bench-v1.0`) clinical calculations, with the optional
physician-corrected labels and the one-shot exemplar of each calculator.

- v1.0 CSV: `Unique ID` (Hub/one_shot: `Row Number`), `Calculator ID`, `Calculator Name`,
  `Category`, `Output Type` (decimal | integer | date), `Note ID`, `Note Type`, `Patient Note`,
  `Question`, `Relevant Entities`, `Ground Truth Answer`, `Lower Limit`, `Upper Limit`,
  `Ground Truth Explanation`. The gestational-age calculator (id 69) is typed `integer` but its
  answer is a tuple like "('4 weeks', '3 days')": it is detected from the answer and typed
  `gestational_age`.
- Corrected labels (`test_corrected.csv`, 887 rows, physician-reviewed): `Unique ID`,
  `Calculator Name`, `Question`, `Patient Note`, `Ground Truth Answer`, `Lower Limit`,
  `Upper Limit`; joined on `Unique ID`. It re-asks gestational age as a number of days (so its
  question differs from v1.0's) and drops 160 rows, which are skipped (counted) when it is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.data.numbers import normalize_number
from engine.data.readers import read_rows, require_columns
from engine.data.spec import DatasetSpec, ExemplarRequest, Exemplars, LoadRequest, LoadResult
from engine.errors import DatasetError
from engine.records import AnswerType, Exemplar, Item

_GEST_RE = re.compile(r"^\(?\s*'?\s*(\d+)\s*weeks?\s*'?\s*,\s*'?\s*(\d+)\s*days?\s*'?\s*\)?$",
                      re.IGNORECASE)
_DATE_RE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")

# How the prompt asks for each answer type.
_FORMAT = {
    "decimal": "a number",
    "integer": "a whole number",
    "date": "a date in MM/DD/YYYY format",
    "gestational_age": "a pair (weeks, days)",
}


def medcalc_question(patient_note: str, question: str) -> str:
    """The item text for a MedCalc row, laid out as MedCalc-Bench's own prompt does."""
    return (f"Here is the patient note:\n{patient_note.strip()}\n\n"
            f"Here is the task:\n{question.strip()}")


def medcalc_prompt_question(item: Item) -> str:
    """The question as posed: the patient note, the task and the answer format asked for."""
    note = item.fields.get("patient_note")
    if note:
        fmt = _FORMAT.get(item.answer_type, "a number")
        return (
            f"Patient note:\n{note.strip()}\n\nTask: {item.question.strip()}\n"
            f"Give the final answer as {fmt}."
        )
    return item.question.strip()


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


def _corrected_labels(request: LoadRequest) -> dict[str, dict[str, Any]] | None:
    """The corrected-label table asked for (True: test_corrected.csv beside the data file)."""
    wanted = request.corrected_file
    if wanted in (None, False):
        return None
    if wanted is True:
        if request.path is None:
            raise DatasetError("corrected MedCalc labels need --data-file beside "
                               "test_corrected.csv, or the corrected file's path")
        path = request.path.parent / "test_corrected.csv"
    else:
        path = Path(wanted).expanduser()  # type: ignore[arg-type]
    table: dict[str, dict[str, Any]] = {}
    for index, (_, row) in enumerate(read_rows(path)):
        if index == 0:
            require_columns(path.name, row, ("Unique ID", "Ground Truth Answer"))
        table[str(row["Unique ID"]).strip()] = row
    return table


def medcalc_items(request: LoadRequest, result: LoadResult) -> None:
    """MedCalc rows → items `medcalc-<Unique ID>` (`medcalc-corrected-<id>`: corrected labels)."""
    corrected = _corrected_labels(request)
    needed = ("Calculator ID", "Calculator Name", "Output Type", "Patient Note", "Question",
              "Ground Truth Answer")
    for index, loc, row in request.rows_for(result, needed):
        if index == 0 and not _row_id(row):
            raise DatasetError(f"{request.source}: no 'Unique ID' or 'Row Number' column")
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


def draw_one_shot(request: ExemplarRequest) -> list[Exemplar]:
    """From one_shot.csv, rows of the asked calculator (`group`): patient note + task, then the
    explanation and "The answer is X."."""
    path = request.train_file
    if path is None:
        raise DatasetError("MedCalc exemplars need one_shot.csv: pass --train-file PATH "
                           "(or put one_shot.csv beside --data-file)")
    rows = [row for _, row in read_rows(path)]
    if rows:
        require_columns(path.name, rows[0], ("Calculator ID", "Patient Note", "Question",
                                             "Ground Truth Answer"))
    if request.group is not None:
        want = str(request.group).strip()
        rows = [r for r in rows if str(r.get("Calculator ID") or "").strip() == want]
        if not rows:
            raise DatasetError(f"{path.name}: no exemplar for Calculator ID {want}")

    def exemplar(_: int, row: dict[str, Any]) -> tuple[str, Exemplar]:
        question = medcalc_question(str(row["Patient Note"]), str(row["Question"]))
        gold = _medcalc_gold(str(row["Ground Truth Answer"]),
                             str(row.get("Output Type") or "").strip().lower())
        answer_text = gold[0] if isinstance(gold, tuple) else str(row["Ground Truth Answer"])
        explanation = str(row.get("Ground Truth Explanation") or "").strip()
        answer = f"{explanation} The answer is {answer_text}.".strip()
        return f"medcalc-oneshot-{_row_id(row)}", Exemplar(question, answer)

    return request.pick(rows, exemplar)


MEDCALC = DatasetSpec(
    name="medcalc",
    description=(
        "MedCalc-Bench v1.0 clinical calculations, 1,047 test notes (decimal, integer, date, "
        "gestational age answers)"
    ),
    how_to_load=(
        "--dataset medcalc --data-file PATH/test_v1.0.csv (one_shot.csv beside it gives the "
        "one-shot exemplar per calculator; test_corrected.csv beside it gives corrected labels); "
        "without --data-file: Hub ncbi/MedCalc-Bench-v1.0"
    ),
    to_items=medcalc_items,
    exemplars=Exemplars(draw_one_shot, beside="one_shot.csv", per_field="calculator_id"),
    aliases=("medcalc-bench", "medcalc_bench"),
    hub_id="ncbi/MedCalc-Bench-v1.0",
    local_file="test_v1.0.csv",
    licence="CC-BY-SA 4.0 (corrected labels: MIT)",
    answer_type="decimal|integer|date|gestational_age",
    grader="medcalc",
    question_text=medcalc_prompt_question,
)
