"""Rollout recipes (``kind: rollout``): sections ``data`` (a time-dependent problem's trajectories;
every stored time is used), ``model`` (the network inside the Autoregressive step: it reads
``history`` states and returns one), ``rollout`` (windows, target, integrator, test horizon),
``train`` (the Trainer's keys and the rollout task's: mode, unroll, noise, curriculum) and
``eval`` (plots)."""

from __future__ import annotations

import dataclasses

from pdekit.config import make_config
from pdekit.data.config import DataSection
from pdekit.errors import ConfigError
from pdekit.eval.config import EvalSection
from pdekit.models.registry import rename_options
from pdekit.recipes.base import register_kind
from pdekit.train.config import make_train_config, train_section
from pdekit.train.rollout import RolloutSection, RolloutTask


@register_kind
class RolloutKind:
    """The rollout recipe kind: sections data, model, rollout, train and eval."""

    name = "rollout"
    sections = ("data", "model", "rollout", "train", "eval")
    renamed: dict = {}

    @staticmethod
    def load(raw: dict) -> dict:
        from pdekit.models import build_model
        from pdekit.problems import get_problem

        data = make_config(DataSection, raw.get("data") or {}, owner="section 'data'")
        rollout = make_config(RolloutSection, raw.get("rollout") or {}, owner="section 'rollout'")
        train, task = make_train_config(RolloutTask, raw.get("train") or {}, owner="train")
        evaluation = make_config(EvalSection, raw.get("eval") or {}, owner="section 'eval'")
        model = raw.get("model")
        if not isinstance(model, dict) or "name" not in model:
            raise ConfigError("recipe section 'model' must be a mapping with a 'name' (see `pdekit list models`)")
        model = {"name": model["name"], **rename_options(model["name"], {k: v for k, v in model.items() if k != "name"})}
        if data.file or data.test_file:
            raise ConfigError("rollout recipes generate their trajectories: data.file is not supported yet")
        if data.trajectory or data.input_time != 0 or data.target_time != -1:
            raise ConfigError("data.input_time, data.target_time and data.trajectory do not apply to rollout recipes: "
                              "rollout.history and rollout.steps say which stored times are inputs and targets")
        if evaluation.resolutions:
            raise ConfigError("eval.resolutions is not supported by rollout recipes yet")
        cls = get_problem(data.problem)
        if not cls.time_dependent:
            raise ConfigError(f"a rollout recipe needs a time-dependent problem; {cls.name} is steady")
        problem = cls.from_params(data.resolution or cls.default_resolution, data.params)
        nt = len(problem.times()) - rollout.start
        test_steps = rollout.test_steps or nt - rollout.history
        if rollout.history + max(rollout.steps, test_steps) > nt:
            raise ConfigError(f"{cls.name} stores {nt} times after rollout.start (data.params.nt); rollout.history = "
                              f"{rollout.history} "
                              f"with rollout.steps = {rollout.steps} and test_steps = {test_steps} need more")
        if task.unroll > rollout.steps:
            raise ConfigError(f"train.unroll = {task.unroll} exceeds rollout.steps = {rollout.steps}")
        channels = len(cls.fields)
        build_model(model, rollout.history * channels, channels, cls.ndim)  # validates the model section
        raw["data"], raw["model"], raw["rollout"] = dataclasses.asdict(data), model, dataclasses.asdict(rollout)
        raw["train"], raw["eval"] = train_section(train, task), dataclasses.asdict(evaluation)
        return {"data": data, "model": model, "rollout": rollout, "train": train, "task": task, "eval": evaluation}
