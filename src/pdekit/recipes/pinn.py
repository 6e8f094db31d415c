"""PINN recipes (``kind: pinn``): sections ``problem`` (a physics-informed problem of
pdekit.problems and its parameters), ``model`` (a pointwise network, ``mlp`` by default; the old
section name ``network`` is read with a note) and ``train`` (the Trainer's keys and the PINN
task's: collocation points, loss balancing, refinement)."""

from __future__ import annotations

from pdekit.errors import ConfigError
from pdekit.pinn.task import PinnTask
from pdekit.recipes.base import register_kind
from pdekit.train.config import TrainConfig, make_train_config, train_section


@register_kind
class PinnKind:
    """The PINN recipe kind: sections problem, model and train (see the module docstring)."""

    name = "pinn"
    sections = ("problem", "model", "train")
    renamed = {"network": "model"}
    task = PinnTask  # the Trainer's task of this kind
    schemas = {"train": (TrainConfig, PinnTask.Config)}

    @staticmethod
    def load(raw: dict) -> dict:
        """Validate the sections of ``raw`` (building the benchmark once), writing the resolved train
        section back into ``raw``; returns ``{"problem", "model", "train", "task"}``."""
        train, task = make_train_config(PinnTask, raw.get("train") or {}, owner="train")
        problem = dict(raw.get("problem") or {})
        if "name" not in problem:
            raise ConfigError("recipe section 'problem' needs a 'name' (see `pdekit list problems`)")
        build_benchmark(problem, raw.get("model") or {})  # validates problem and model now
        raw["train"] = train_section(train, task)
        return {"problem": problem, "model": dict(raw.get("model") or {}), "train": train, "task": task}


def build_benchmark(problem: dict, model: dict):
    """The pdekit.pinn.Benchmark of a recipe's ``problem`` and ``model`` sections."""
    from pdekit.problems import get_problem

    options = dict(problem)
    cls = get_problem(options.pop("name"), kind="pinn")
    return cls.from_params(options).build(model)
