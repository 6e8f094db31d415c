"""Rollout recipes (``kind: rollout``): sections ``data`` (a time-dependent problem's trajectories;
every stored time is used), ``model`` (the network inside the Autoregressive step: it reads
``history`` states and returns one), ``rollout`` (windows, target, integrator, test horizon),
``train`` (the Trainer's keys and the rollout task's: mode, unroll, noise, curriculum) and
``eval`` (plots)."""

from __future__ import annotations

import dataclasses
import inspect

from pdekit.config import make_config
from pdekit.data.config import DataSection
from pdekit.errors import ConfigError
from pdekit.eval.config import EvalSection
from pdekit.recipes.base import model_section, register_kind, require_data_source
from pdekit.train.config import TrainConfig, make_train_config, train_section
from pdekit.train.rollout import RolloutSection, RolloutTask


@register_kind
class RolloutKind:
    """The rollout recipe kind: sections data, model, rollout, train and eval."""

    name = "rollout"
    sections = ("data", "model", "rollout", "train", "eval")
    renamed: dict = {}
    task = RolloutTask  # the Trainer's task of this kind
    schemas = {"data": (DataSection,), "rollout": (RolloutSection,), "train": (TrainConfig, RolloutTask.Config),
               "eval": (EvalSection,)}

    @staticmethod
    def load(raw: dict) -> dict:
        from pdekit.problems import get_problem

        require_data_source(raw)
        defaults = {f.name: f.default for f in dataclasses.fields(DataSection)}
        given = raw.get("data") or {}
        keys = ["source", *(k for keys, (switch, _) in DataSection.applies_when.items() if switch == "source" for k in keys)]
        streamed = [f"data.{k}" for k in keys if k in given and given[k] != defaults[k]]  # (before DataSection's
        # advice to stream or go online, which rollouts refuse)
        if streamed:
            raise ConfigError(f"{', '.join(streamed)} {'is' if len(streamed) == 1 else 'are'} supported by operator "
                              f"recipes only (rollout recipes load their trajectories into memory)")
        data = make_config(DataSection, given, owner="section 'data'")
        rollout = make_config(RolloutSection, raw.get("rollout") or {}, owner="section 'rollout'")
        train, task = make_train_config(RolloutTask, raw.get("train") or {}, owner="train")
        evaluation = make_config(EvalSection, raw.get("eval") or {}, owner="section 'eval'")
        model = model_section(raw)
        if data.trajectory or data.input_time != 0 or data.target_time != -1:
            raise ConfigError("data.input_time, data.target_time and data.trajectory do not apply to rollout recipes: "
                              "rollout.history and rollout.steps say which stored times are inputs and targets")
        if evaluation.resolutions or evaluation.held_out or evaluation.plot_samples != EvalSection().plot_samples:
            raise ConfigError("eval.resolutions, eval.held_out and eval.plot_samples are not supported by rollout "
                              "recipes yet (the report draws the first test trajectory)")
        if data.file:  # trajectories of a user's file, in any layout pdekit reads
            nt, channels, ndim, problem_name, params = _file_shape(data)
            where = f"'{data.file}'"
        else:
            cls = get_problem(data.problem)
            if not cls.time_dependent:
                raise ConfigError(f"a rollout recipe needs a time-dependent problem; {cls.name} is steady")
            problem = cls.from_params(data.resolution or cls.default_resolution, data.params)
            nt, channels, ndim, where = len(problem.times()), len(cls.fields), cls.ndim, f"{cls.name} (data.params.nt)"
            problem_name, params = cls.name, list(problem.sample_params)
        nt -= rollout.start
        test_steps = rollout.test_steps or nt - rollout.history
        if rollout.history + max(rollout.steps, test_steps) > nt:
            raise ConfigError(f"{where} stores {nt} times after rollout.start; rollout.history = {rollout.history} "
                              f"with rollout.steps = {rollout.steps} and test_steps = {test_steps} need more")
        if task.unroll * rollout.bundle > rollout.steps:
            raise ConfigError(f"train.unroll = {task.unroll} calls of rollout.bundle = {rollout.bundle} step(s) exceed "
                              f"rollout.steps = {rollout.steps}")
        if task.augment:
            from pdekit.data.lie import check_symmetries, refuse_boost_across_lengths

            if data.file:
                raise ConfigError("train.augment needs generated data (the problem declares its symmetries)")
            check_symmetries(cls, task.augment_boost)
            refuse_boost_across_lengths(task.augment_boost, params)
        cond_log = conditioning_scalars(rollout, problem_name, params)
        # validates the model section, on the data's grid (stencil and latent_ode refuse nodes)
        net = rollout_model(model, rollout, channels, ndim, 1.0, cond_log, data.resolved_grid()).net
        from pdekit.train.trainer import check_training

        check_training(net, train, model["name"])
        raw["data"], raw["model"], raw["rollout"] = dataclasses.asdict(data), model, dataclasses.asdict(rollout)
        raw["train"], raw["eval"] = train_section(train, task), dataclasses.asdict(evaluation)
        return {"data": data, "model": model, "rollout": rollout, "train": train, "task": task, "eval": evaluation}


def conditioning_scalars(rollout, problem: str | None, params) -> tuple[bool, ...]:
    """The ``cond_log`` of the rollout model: one entry per parameter that varies per sample (sorted
    by name, the order of a file's /params), True where the problem draws it on a log scale; empty
    with rollout.conditioning=none."""
    from pdekit.problems import log_scaled

    return () if rollout.conditioning == "none" else log_scaled(problem, sorted(params))


def rollout_model(model: dict, rollout, channels: int, ndim: int, dt: float, cond_log: tuple[bool, ...],
                  grid=None):
    """The Autoregressive model of a rollout recipe: the ``model`` section's network reading
    ``history`` states (and the conditioning scalars as channels or through its embedding)."""
    from pdekit.models import build_model
    from pdekit.models.registry import MODELS
    from pdekit.train.rollout import Autoregressive

    in_channels, section = rollout.history * channels, dict(model)
    if cond_log and rollout.conditioning == "embedding":
        if "cond_channels" not in inspect.signature(MODELS[model["name"]]).parameters:
            raise ConfigError(f"rollout.conditioning=embedding needs a model with an embedding of the parameters "
                              f"(unet); {model['name']} has none: set rollout.conditioning=channels")
        section["cond_channels"] = len(cond_log)
    elif cond_log:
        in_channels += len(cond_log)
    net = build_model(section, in_channels, rollout.bundle * channels, ndim, grid)
    conditioning = "embedding" if rollout.conditioning == "embedding" else "channels"
    return Autoregressive(net, channels, rollout.history, rollout.target, rollout.integrator, dt, cond_log, conditioning,
                          rollout.bundle)


def _file_shape(data) -> tuple[int, int, int, str | None, list[str]]:
    """(stored times, channels, spatial dimensions, problem or None, per-sample parameters) of
    data.file (and data.test_file), checked to hold time-dependent data and enough samples for
    the splits."""
    from pdekit.data.formats import open_source

    shapes = []
    for path, test in ((data.file, False), (data.test_file, True)):
        if not path:
            continue
        f, source = open_source(path)
        f.close()
        if not source.time_dependent:
            raise ConfigError(f"'{path}' holds steady data; a rollout recipe needs trajectories")
        needed, keys = data.needed_from(test)
        if source.n < needed:
            raise ConfigError(f"'{path}' holds {source.n} trajectories; {keys} need {needed} from it")
        shapes.append((source.nt, len(source.fields), source.ndim, source.problem, sorted(source.params),
                       tuple(source.coords.get("t", ()))))
    if len(shapes) == 2 and shapes[0][:3] + shapes[0][4:] != shapes[1][:3] + shapes[1][4:]:
        raise ConfigError("data.file and data.test_file hold different times, channels, dimensions or per-sample "
                          "parameters")
    return shapes[0][:5]
