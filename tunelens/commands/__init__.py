"""The subcommands, one module per group; `handler(name)` imports a command only when it runs.

Each command is `cmd_NAME(argv) -> exit code` and parses its own options (from
`tunelens.options`), so `tunelens --help` loads none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import NamedTuple


class Command(NamedTuple):
    module: str  # tunelens.commands.<module> defines cmd_<name>
    summary: str  # one line for `tunelens --help`


COMMANDS: dict[str, Command] = {
    "query": Command("query", "run read-only SQL on the results store"),
    "db": Command("query", "where the store is (`db path`) and what it holds (`db info`)"),
    "grade": Command("grade", "grade a JSONL file of outputs the way tunelens grades its own"),
    "datasets": Command("catalog", "list the datasets tunelens can load and how"),
    "models": Command("catalog", "list the pairs and models in models.toml"),
    "perturbations": Command("catalog", "list the perturbations and what they change"),
    "report": Command(
        "report", "accuracy, paired tests, drops, convergence, grader agreement (+ --plot-dir)"
    ),
    "regrade": Command(
        "report", "add a second grader's verdicts to recorded answers (grader agreement)"
    ),
    "shift": Command("shift", "token distribution shift of instruct answers under the base model"),
    "reproduce": Command(
        "reproduce", "run a paper's protocol as a preset (instruct-vs-base) and print its table"
    ),
}


def handler(name: str) -> Callable[[list[str]], int]:
    """The `cmd_NAME` function of a subcommand (its module is imported now)."""
    module = importlib.import_module(f"tunelens.commands.{COMMANDS[name].module}")
    return getattr(module, f"cmd_{name}")
