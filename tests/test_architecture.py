"""The layering contract in pyproject.toml holds: the engine knows no front end, each stage imports
only the stages before it, and engine/ has no import cycles (import-linter checks all three)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> list[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a dev dependency: run scripts/setup.sh"
    return [exe]


def test_layering_contracts_hold() -> None:
    out = subprocess.run(
        [*_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_contract_catches_a_front_end_import(tmp_path: Path) -> None:
    """The check is live: an engine module importing the CLI breaks it."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(".venv", ".git", "*.duckdb", "tests"))
    (tree / "engine" / "bad_edge.py").write_text("import tunelens.cli\n")
    out = subprocess.run(
        [*_lint_imports(), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode != 0
    assert "engine knows no front end" in out.stdout
    assert "engine.bad_edge" in out.stdout
