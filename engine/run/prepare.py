"""One place that wires a run: configuration -> workload -> models -> exemplars -> runner.

Every front (the headless run, the app session, `reproduce`), every benchmark and every test
builds its runs here, so a new `RunConfig` field is threaded through once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from engine.inference.config import ModelsConfig, PairSpec, load_config
from engine.inference.pairs import load_pair
from engine.records import Exemplar, Item, Role
from engine.run.config import RunConfig
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

    def runner(self) -> Runner:
        """A runner over the loaded models (a role whose model is not loaded is left out)."""
        loaded = tuple(r for r in self.config.roles if r in self.models)
        config = self.config if loaded == self.config.roles else replace(self.config, roles=loaded)
        return Runner(
            config,
            self.store,
            self.models,
            self.workload.items,
            exemplar_source=self.exemplars or exemplar_source_for(self.config, self.workload.items),
            kind=self.kind,
        )


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


def prepare_run(
    config: RunConfig,
    store: Store,
    *,
    workload: Workload | None = None,
    models: Mapping[Role, Engine] | None = None,
    exemplars: ExemplarSource | None = None,
    kind: str = "headless",
) -> PreparedRun:
    """Check and load a run's inputs, cheapest first: models.toml and the pair, then the data.

    What a caller already holds (a workload, loaded models) is reused; models are otherwise loaded
    by `PreparedRun.load_models`.
    """
    models_config = load_config(config.models_file)
    pair = models_config.pair(config.pair)
    workload = workload if workload is not None else workload_for(config)
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
