"""One place that wires a run: configuration -> workload -> models -> exemplars -> runner.

Every front (the headless run, the app session, `reproduce`), every benchmark and every test
builds its runs here, so a new `RunConfig` field is threaded through once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.data import spec_for
from engine.errors import DatasetError
from engine.grading import ExtractLLMGrader
from engine.inference.config import ModelsConfig, PairSpec, load_config
from engine.inference.pairs import load_pair
from engine.records import Exemplar, Item, Role
from engine.run.config import RunConfig
from engine.run.extractor import extractor_from_config
from engine.run.runner import Runner
from engine.run.workload import Workload, exemplar_source, workload_for

if TYPE_CHECKING:
    from engine.inference.engine import Engine
    from engine.store.store import Store

ExemplarSource = Callable[[Item, str], list[Exemplar]]


@dataclass
class PreparedRun:
    """A run's inputs, checked and loaded; `runner()` wires them into a `Runner`.

    Models load last (`load_models`), after everything that can fail cheaply has been checked, so a
    wrong pair name or a missing data file is reported before seconds of model loading.
    """

    config: RunConfig
    store: Store
    models_config: ModelsConfig
    pair: PairSpec
    workload: Workload
    models: dict[Role, Engine] = field(default_factory=dict)
    exemplars: ExemplarSource | None = None
    kind: str = "headless"
    second_grader: ExtractLLMGrader | None = None

    def load_models(
        self,
        roles: tuple[Role, ...] | None = None,
        on_status: Callable[[Role, str], None] | None = None,
    ) -> dict[Role, Engine]:
        """Load the pair's models for these roles (default: the run's), keeping those loaded."""
        wanted = tuple(r for r in (roles or self.config.roles) if r not in self.models)
        if wanted:
            got = load_pair(self.models_config, self.config.pair, wanted, on_status=on_status)
            self.models.update(got)
        return {r: self.models[r] for r in (roles or self.config.roles)}

    def load_extractor(self) -> ExtractLLMGrader | None:
        """The run's extract-llm grader (RunConfig.extractor), its cache read from the store.

        The extractor model is found and hashed now (a wrong name fails before the pair loads)
        and loaded on its first extraction."""
        if self.config.extractor and self.second_grader is None:
            extractor = extractor_from_config(self.models_config, self.config.extractor)
            grader = ExtractLLMGrader(extractor)
            grader.cache.update(self.store.load_extractions(extractor.id, grader.prompt_version))
            self.second_grader = grader
        return self.second_grader

    def runner(self) -> Runner:
        """A runner over the loaded models (a role whose model is not loaded is left out)."""
        loaded = tuple(r for r in self.config.roles if r in self.models)
        config = self.config if loaded == self.config.roles else replace(self.config, roles=loaded)
        runner = Runner(
            config,
            self.store,
            self.models,
            self.workload.items,
            exemplar_source=self.exemplars or exemplar_source_for(self.config, self.workload.items),
            kind=self.kind,
        )
        runner.second_grader = self.load_extractor()
        return runner


def exemplar_source_for(
    config: RunConfig, items: list[Item], *, shots: int | None = None
) -> ExemplarSource:
    """Few-shot exemplars per (item, mode), as the configuration asks (shots may be overridden)."""
    return exemplar_source(
        config.dataset,
        shots=config.shots if shots is None else shots,
        seed=config.fewshot_seed,
        train_file=config.train_file,
        data_file=config.data_file,
        items=items,
    )


def check_train_file(train_file: str | None) -> None:
    """A --train-file that is not there is found now, not after the models have loaded."""
    if train_file is None:
        return
    path = Path(train_file).expanduser()
    if not path.exists():
        raise DatasetError(f"--train-file {train_file}: no such file")
    if path.is_dir():
        raise DatasetError(f"--train-file {train_file}: is a folder; pass the train file itself")
    if not os.access(path, os.R_OK):
        raise DatasetError(f"--train-file {train_file}: not readable")


def check_exemplars(config: RunConfig, items: list[Item]) -> ExemplarSource | None:
    """Draw the few-shot exemplars once, before any model loads or run is opened: a train file
    that cannot be read, or fewer exemplars than --shots asks (which ran fewer shots under the
    asked number), is a one-line error now. Returns the source, its draw cached."""
    if "few-shot-cot" not in config.modes or config.shots <= 0 or not items:
        return None
    source = exemplar_source_for(config, items)
    policy = spec_for(config.dataset).exemplars
    first = next((it for it in items if not it.is_variant), items[0])
    got = source(first, "few-shot-cot")
    # MedCalc-Bench draws the one-shot example of each item's own calculator, whatever --shots.
    per_group = policy.per_field is not None and not policy.others_only
    if len(got) < config.shots and not per_group:
        where = f" from {config.train_file}" if config.train_file else ""
        raise DatasetError(
            f"--shots {config.shots}: only {len(got)} exemplars available{where} for "
            f"{config.dataset}; pass --shots {len(got)} or a bigger --train-file"
        )
    return source


def prepare_run(
    config: RunConfig,
    store: Store,
    *,
    workload: Workload | None = None,
    models: Mapping[Role, Engine] | None = None,
    exemplars: ExemplarSource | None = None,
    kind: str = "headless",
) -> PreparedRun:
    """Check and load a run's inputs, cheapest first: the settings, models.toml and the pair,
    the train file, the data, then one draw of the exemplars; nothing is loaded or recorded
    before all of them pass.

    What a caller already holds (a workload, loaded models) is reused; models are otherwise loaded
    by `PreparedRun.load_models`.
    """
    config.check()
    models_config = load_config(config.models_file)
    pair = models_config.pair(config.pair)
    check_train_file(config.train_file)
    workload = workload if workload is not None else workload_for(config)
    checked = check_exemplars(config, workload.items)
    if exemplars is None:
        exemplars = checked  # its draw is cached: the runner reuses it
    return PreparedRun(
        config=config,
        store=store,
        models_config=models_config,
        pair=pair,
        workload=workload,
        models=dict(models or {}),
        exemplars=exemplars,
        kind=kind,
    )
