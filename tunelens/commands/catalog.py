"""`tunelens datasets`, `models` and `perturbations`: what there is to choose from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.data import DATASETS
from engine.inference.config import load_config
from engine.perturb import PERTURBATIONS
from tunelens.options import add_data_file, add_dataset, add_limit, add_models, command_parser

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
    p = command_parser(
        "perturbations", "List the perturbations (--perturb NAME[,NAME][+NAME])."
    )
    p.add_argument(
        "--stats",
        action="store_true",
        help="apply each perturbation to every item of --dataset and print, per perturbation, "
        "items tried, variants made, coverage and the items rejected by reason",
    )
    add_dataset(p)
    add_data_file(p)
    p.add_argument("--split", default="test", help="dataset split (default: test)")
    add_limit(p)
    p.add_argument("--seed", type=int, default=0, help="perturbation seed (default: 0)")
    p.add_argument("--perturb", metavar="SPEC",
                   help="with --stats: only these chains (default: every perturbation)")
    args = p.parse_args(argv)
    from rich.console import Console

    if args.stats:
        return _perturbation_stats(args, Console())
    table = _table("perturbations", ("name", "gold", "what it does"))
    for name, pert in PERTURBATIONS.items():
        table.add_row(name, "recomputed" if pert.changes_gold else "unchanged", pert.description)
    Console().print(table)
    return 0


def _perturbation_stats(args: Any, console: Any) -> int:
    """Coverage and rejection reasons of each perturbation over a dataset's items."""
    from engine.data import load_items
    from engine.perturb import parse_perturb_spec, perturbation_stats

    chains = parse_perturb_spec(args.perturb) if args.perturb else None
    loaded = load_items(args.dataset, args.data_file, split=args.split, limit=args.limit)
    stats = perturbation_stats(loaded.items, args.seed, chains)
    table = _table(f"perturbations over {args.dataset} ({loaded.source}), seed {args.seed}",
                   ("perturbation", "tried", "made", "coverage", "rejected because", "items"))
    for stat in stats:
        reasons = sorted(stat.rejected.items(), key=lambda kv: (-kv[1], kv[0])) or [("-", 0)]
        for i, (code, n) in enumerate(reasons):
            head = (stat.name, str(stat.tried), str(stat.made),
                    f"{100 * stat.coverage:.1f}%") if i == 0 else ("", "", "", "")
            table.add_row(*head, code, str(n) if n else "")
    console.print(table)
    meanings = _table("rejection reasons", ("perturbation", "reason", "meaning"))
    for stat in stats:
        for code in sorted(stat.rejected):
            step, _, reason = code.rpartition(":") if ":" in code and "+" in stat.name else (
                stat.name, "", code)
            pert = PERTURBATIONS.get(step)
            meaning = pert.reasons.get(reason, "") if pert is not None else ""
            meanings.add_row(stat.name, code, meaning or _GENERIC_REASONS.get(reason, ""))
    if meanings.row_count:
        console.print(meanings)
    return 0


_GENERIC_REASONS = {
    "none": "the perturbation returned no variant without saying why",
    "rebuild-after-edit": "a template rebuild after a text edit would discard that edit",
}


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
