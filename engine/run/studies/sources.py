"""Where a study's benchmarks come from: a local data directory laid out like the shared mirror
(`gsm8k/test.jsonl`, `math500/test.jsonl`, ...), else the Hugging Face Hub; a user's file is one
more source."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import UsageError

# dataset -> file under --data-dir (the layout of ../shared/datasets); embedded needs none.
DATA_DIR_FILES: dict[str, str] = {
    "gsm8k": "gsm8k/test.jsonl",
    "math500": "math500/test.jsonl",
    "math-perturb-hard": "math-perturb/math_perturb_hard.jsonl",
    "math-perturb-simple": "math-perturb/math_perturb_simple.jsonl",
    "medcalc": "medcalc-bench/test_v1.0.csv",
    "gsm-symbolic-p2": "gsm-symbolic/GSM_p2.jsonl",
    "embedded": "",
}


@dataclass(frozen=True)
class Source:
    """One dataset of a study and its file (None: built in, or from the Hub)."""

    dataset: str
    data_file: str | None = None


def resolve_sources(
    datasets: tuple[str, ...],
    data_dir: str | None,
    *,
    extra_files: tuple[str, ...] = (),
) -> tuple[Source, ...]:
    """The study's sources: each dataset's file under `data_dir` (checked), plus user files."""
    out = []
    for name in datasets:
        if name not in DATA_DIR_FILES:
            raise UsageError(
                f"--datasets: unknown study dataset {name!r} "
                f"(choose from {', '.join(DATA_DIR_FILES)}; a file of your own: --data-file)"
            )
        rel = DATA_DIR_FILES[name]
        if not rel or data_dir is None:
            out.append(Source(name))
            continue
        path = Path(data_dir).expanduser() / rel
        if not path.is_file():
            raise UsageError(f"--data-dir {data_dir}: {name} needs {rel}, which is not there")
        out.append(Source(name, str(path.resolve())))
    for f in extra_files:
        path = Path(f).expanduser()
        if not path.is_file():
            raise UsageError(f"--data-file {f}: no such file")
        out.append(Source("file", str(path.resolve())))
    return tuple(out)
