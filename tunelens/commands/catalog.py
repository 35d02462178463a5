"""`tunelens datasets`, `models` and `perturbations`: what there is to choose from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.data import DATASETS
from engine.inference.config import load_config
from engine.perturb import PERTURBATIONS
from tunelens.options import add_models, command_parser

if TYPE_CHECKING:
    from rich.table import Table


def _table(title: str, columns: tuple[str, ...]) -> Table:
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


def cmd_datasets(argv: list[str]) -> int:
    command_parser("datasets", "List the datasets tunelens can load, and how.").parse_args(argv)
    from rich.console import Console

    table = _table("datasets (--dataset NAME)", ("name", "what", "Hub id", "how to load"))
    for name, info in DATASETS.items():
        hub = info.hub_id or "-"
        if getattr(info, "hub_config", None):
            hub += f" ({info.hub_config})"
        table.add_row(name, info.description, hub, info.how_to_load)
    Console().print(table)
    return 0


def cmd_models(argv: list[str]) -> int:
    p = command_parser("models", "List the pairs and models in models.toml.")
    add_models(p)
    p.add_argument(
        "--check",
        metavar="PAIR",
        nargs="?",
        const="demo",
        help="load the pair's models (default: demo) and show what runs them: backend, device, "
        "layers offloaded to the GPU, flash attention, context; for served models the server",
    )
    args = p.parse_args(argv)
    from rich.console import Console

    cfg = load_config(args.models)
    if args.check:
        return _check_pair(cfg, args.check, Console())
    console = Console()
    console.print(f"[dim]{cfg.path}[/]")
    pairs = _table("pairs (--pair NAME)", ("pair", "base", "instruct", "notes"))
    for pair in cfg.pairs.values():
        pairs.add_row(pair.name, pair.base.name, pair.instruct.name, pair.description)
    console.print(pairs)
    models = _table("models", ("model", "source", "sha256"))
    for spec in cfg.models.values():
        models.add_row(spec.name, spec.source_text, spec.sha256 or "-")
    console.print(models)
    return 0


def cmd_perturbations(argv: list[str]) -> int:
    command_parser(
        "perturbations", "List the perturbations (--perturb NAME[,NAME][+NAME])."
    ).parse_args(argv)
    from rich.console import Console

    table = _table("perturbations", ("name", "gold", "what it does"))
    for name, pert in PERTURBATIONS.items():
        table.add_row(name, "recomputed" if pert.changes_gold else "unchanged", pert.description)
    Console().print(table)
    return 0


def _check_pair(cfg: Any, pair: str, console: Any) -> int:
    """Load both models of a pair once and show how each runs."""
    from engine.inference.pairs import load_pair

    def say(role: str, msg: str) -> None:
        console.print(f"[dim]{role}: {msg}[/]")

    models = load_pair(cfg, pair, on_status=say)
    table = _table(f"pair {pair}", ("role", "model", "engine", "backend", "device",
                                    "layers on GPU", "flash attn", "n_ctx"))
    for role, model in models.items():
        s = model.info.settings
        if "server_kind" in s:
            table.add_row(role, model.info.name, s.get("engine_version", ""),
                          "served", ", ".join(s.get("urls", [])), "-", "-", str(s.get("n_ctx")))
        else:
            total = s.get("layers_total")
            table.add_row(role, model.info.name, model.info.description, s.get("backend", ""),
                          s.get("device", ""), f"{s.get('layers_offloaded', 0)}/{total or '?'}",
                          "on" if s.get("flash_attn") else "off", str(s.get("n_ctx")))
        model.close()
    console.print(table)
    return 0
