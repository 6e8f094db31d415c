"""Operator recipes (``kind: operator``, the default): sections ``data`` (what to generate or read),
``model`` (a registered model's name and options), ``train`` (the Trainer's keys and the supervised
task's) and ``eval``; each section is validated by its own package's dataclass, and this module
checks what spans sections (a model that fits the data, PINO and augmentation that the problem
supports)."""

from __future__ import annotations

import dataclasses

from pdekit.config import make_config, require
from pdekit.data.config import DataSection
from pdekit.data.dataset import PairTask
from pdekit.errors import ConfigError
from pdekit.eval.config import EvalSection
from pdekit.recipes.base import model_section, register_kind, require_data_source
from pdekit.train.config import TrainConfig, make_train_config, train_section
from pdekit.train.supervised import SupervisedTask


@register_kind
class OperatorKind:
    """The operator recipe kind: sections data, model, train and eval (see the module docstring)."""

    name = "operator"
    sections = ("data", "model", "train", "eval")
    renamed: dict = {}
    task = SupervisedTask  # the Trainer's task of this kind
    schemas = {"data": (DataSection,), "train": (TrainConfig, SupervisedTask.Config), "eval": (EvalSection,)}

    @staticmethod
    def load(raw: dict) -> dict:
        """Validate the sections of ``raw`` and the checks across them, writing the resolved sections
        back into ``raw``; returns ``{"data", "model", "train", "task", "eval"}``."""
        require_data_source(raw)
        data = make_config(DataSection, raw.get("data") or {}, owner="section 'data'")
        train, task = make_train_config(SupervisedTask, raw.get("train") or {}, owner="train")
        evaluation = make_config(EvalSection, raw.get("eval") or {}, owner="section 'eval'")
        model = model_section(raw)
        _check(data, model, train, task, evaluation)
        raw["data"], raw["model"], raw["train"], raw["eval"] = (dataclasses.asdict(data), model,
                                                                train_section(train, task), dataclasses.asdict(evaluation))
        return {"data": data, "model": model, "train": train, "task": task, "eval": evaluation}


def _check(data, model: dict, train, task, evaluation) -> None:
    from pdekit.models import build_model
    from pdekit.problems import get_problem

    if data.file:
        (in_channels, out_channels), ndim = PairTask.of(data).shape(*_check_data_files(data, evaluation))
    else:
        cls = get_problem(data.problem)
        problem = cls.from_params(data.resolution or cls.default_resolution, data.params)
        for r in evaluation.resolutions:
            try:
                cls.from_params(r, data.params)
            except ConfigError as exc:
                raise ConfigError(f"eval.resolutions = {evaluation.resolutions} asks for {r}, which these data.params "
                                  f"cannot store: {exc} (set eval.resolutions=[...] or eval.resolutions=[])") from None
        if cls.time_dependent:
            nt = len(problem.times())
            for key in ("input_time", "target_time"):  # before any data is made
                t = getattr(data, key)
                require(-nt <= t < nt, f"data.{key} = {t} is outside the {nt} stored times of {cls.name} "
                        f"(data.params.nt)")
            if not data.trajectory:
                _check_distinct_times(data, nt, f"{cls.name} (data.params.nt)")
        if data.trajectory and not cls.time_dependent:
            raise ConfigError(f"data.trajectory=true needs a time-dependent problem; {cls.name} is steady")
        if not cls.time_dependent and (data.input_time, data.target_time, data.input_steps) != (0, -1, 1):
            raise ConfigError(f"data.input_time, data.target_time and data.input_steps choose stored times; {cls.name} "
                              f"is steady (they were ignored)")
        if problem.sample_params and task.physics_weight > 0:
            raise ConfigError("train.physics_weight (PINO) does not take parameters drawn per sample yet; set "
                              f"data.params.{next(iter(problem.sample_params))}_max=0 or train.physics_weight=0")
        if problem.pair_channels()[0] == 0:
            raise ConfigError(f"{cls.name} has no input: set data.params.<name>_max to draw "
                              f"{' or '.join(cls.varying) or 'a parameter'} per sample, the map's input")
        if evaluation.held_out:
            held = cls.from_params(problem.resolution, {**data.params, **evaluation.held_out})
            if held.pair_channels() != problem.pair_channels():
                raise ConfigError("eval.held_out must keep the inputs the model reads: the same parameters drawn per "
                                  "sample as data.params")
        (in_channels, out_channels), ndim = PairTask.of(data).shape(cls.channels(), cls.ndim, len(problem.sample_params))
        times = problem.times() if data.trajectory else []
        if data.input_steps > 1 and data.input_time % len(times) + data.input_steps >= len(times):
            raise ConfigError(f"{cls.name} stores {len(times)} times (data.params.nt): data.input_steps = "
                              f"{data.input_steps} from data.input_time = {data.input_time} leave none to predict")
    net = build_model(model, in_channels, out_channels, ndim)  # validates the model section
    if evaluation.resolutions and not getattr(net, "resolution_invariant", False):  # (as pdekit eval --data refuses)
        raise ConfigError(f"eval.resolutions = {evaluation.resolutions} asks for resolution transfer, but "
                          f"{model['name']} is not resolution-invariant (its layers are tied to the trained grid): "
                          f"set eval.resolutions=[]")
    other = data.test_file_grid()
    if other and not getattr(net, "resolution_invariant", False):
        raise ConfigError(f"data.test_file is stored on a grid of {other} points, another than data.file's, and "
                          f"{model['name']} is not resolution-invariant: give a test file on the training grid")
    if task.physics_weight > 0 and data.input_steps > 1:
        raise ConfigError("train.physics_weight (PINO) needs the whole trajectory as the target: data.input_steps = 1")
    if task.physics_weight > 0 and (data.file or (get_problem(data.problem).time_dependent and not data.trajectory)):
        raise ConfigError("train.physics_weight (PINO) needs generated data of a steady problem (such as darcy_2d) "
                          "or data.trajectory=true: the residual of a single predicted time slice has no time "
                          "derivative")
    if task.augment and data.file:
        raise ConfigError("train.augment of an operator recipe needs generated data (the problem declares its "
                          "symmetries); data.file has none")
    if task.augment:
        from pdekit.data.symmetry import problem_augmentation

        problem_augmentation(problem, data, task.augment_boost, task.augment_warp)  # refuses what it lacks
    from pdekit.train.trainer import check_training

    check_training(net, train, model["name"])
    if data.source == "stream" and data.buffer < train.batch_size:
        raise ConfigError(f"data.buffer = {data.buffer} must hold a batch (train.batch_size = {train.batch_size})")
    if data.source == "online":
        from pdekit.data.online import resolve_watermark

        resolve_watermark(data.buffer, data.buffer_policy, data.watermark, train.batch_size, data.reuse)


def _check_data_files(data: DataSection, eval_section) -> tuple[tuple[int, int], int]:
    """Open data.file (and data.test_file): layout, sample counts and time indices; returns the
    task's (input, output) channels and the spatial dimension."""
    from pdekit.data.formats import open_source

    if eval_section.resolutions:
        raise ConfigError("eval.resolutions needs generated data: with data.file set, leave it empty")
    if eval_section.held_out:
        raise ConfigError("eval.held_out needs generated data: with data.file set, give the held-out samples as "
                          "their own file to `pdekit eval RUN --data FILE`")
    sources = []
    for path, test in ((data.file, False), (data.test_file, True)):
        if not path:
            continue
        f, source = open_source(path)
        f.close()
        needed, keys = data.needed_from(test)
        if source.n < needed:
            raise ConfigError(f"'{path}' holds {source.n} samples; {keys} need {needed} from it")
        if not source.time_dependent and (data.input_time, data.target_time, data.input_steps) != (0, -1, 1):
            raise ConfigError(f"data.input_time, data.target_time and data.input_steps choose stored times; '{path}' "
                              f"holds steady data (they would be ignored)")
        if source.time_dependent:
            for key in ("input_time", "target_time"):
                t = getattr(data, key)
                require(-source.nt <= t < source.nt, f"data.{key} = {t} is outside the {source.nt} stored times "
                        f"of '{path}'")
            if not data.trajectory:
                _check_distinct_times(data, source.nt, f"'{path}'")
        sources.append(source)
    if len(sources) == 2 and None not in (sources[0].problem, sources[1].problem) \
            and sources[0].problem != sources[1].problem:
        raise ConfigError(f"data.file holds {sources[0].problem} data and data.test_file {sources[1].problem} data")
    if len(sources) == 2 and ((sources[0].channels(), sources[0].ndim, sorted(sources[0].params))
                              != (sources[1].channels(), sources[1].ndim, sorted(sources[1].params))):
        shown = [f"{len(src.fields)} field(s) {', '.join(src.fields)}, input(s) {', '.join(src.inputs) or 'none'}, "
                 f"per-sample {', '.join(sorted(src.params)) or 'none'}, {src.ndim}D" for src in sources]
        raise ConfigError(f"data.file and data.test_file hold different channels or dimensions: {shown[0]} against "
                          f"{shown[1]}")
    return sources[0].channels(), sources[0].ndim, len(sources[0].params)



def _check_distinct_times(data, nt: int, where: str) -> None:
    """Refuse an input and a target that are the same stored time: the map would be the identity."""
    if data.input_time % nt == data.target_time % nt:
        raise ConfigError(f"data.input_time = {data.input_time} and data.target_time = {data.target_time} are the same "
                          f"of the {nt} stored times of {where}: the model would learn the identity")
