"""Recipes: YAML files shipped in this folder, one per reproducible experiment.

A recipe has the sections ``data`` (what to generate), ``model`` (name and options), ``train``
and ``eval``, plus ``name``, ``description`` and ``quick`` (dotted overrides applied by
``--quick``). ``load_recipe`` validates everything before any work starts.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import importlib.util
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from pdekit.config import make_config, param, require
from pdekit.errors import ConfigError


@dataclass(frozen=True)
class DataSection:
    problem: str = param("burgers_1d", "problem that generates the data")
    resolution: int = param(0, "stored grid (0: the problem's default)")
    params: dict = field(default_factory=dict, metadata={"help": "problem parameters"})
    n_train: int = param(1000, "training samples: indices 0 .. n_train - 1 of the seed's stream")
    n_val: int = param(-1, "validation samples, the next indices after training's (-1: 10% of n_train, at "
                           "least 1): they choose epochs and settings, and show the error per epoch")
    n_test: int = param(200, "test samples: the indices after validation's, touched once, after training")
    seed: int = param(0, "dataset seed")
    input_time: int = param(0, "time index of the input (time-dependent problems)")
    target_time: int = param(-1, "time index of the target (time-dependent problems)")
    trajectory: bool = param(False, "predict the whole trajectory from the input_time slice (a space-time task "
                                    "with one more dimension; PINO's Burgers setup)")
    batch_size: int = param(32, "samples solved together while generating")
    file: str = param("", "train on this file instead (pdekit, PDEBench or The Well layout): the first n_train "
                          "samples train, the next n_val validate, the next n_test test; problem, params and seed "
                          "are then unused")
    test_file: str = param("", "with data.file: take the n_test test samples from the start of this file")

    def validate(self):
        require(self.n_train >= 1 and self.n_test >= 1, f"data.n_train and data.n_test must be >= 1, got "
                f"{self.n_train} and {self.n_test}")
        require(self.batch_size >= 1, f"data.batch_size must be >= 1, got {self.batch_size}")
        require(self.n_val >= 1 or self.n_val == -1, f"data.n_val must be >= 1 (or -1: 10% of n_train), got {self.n_val}")

    @property
    def validation_count(self) -> int:
        return self.n_val if self.n_val > 0 else max(1, round(0.1 * self.n_train))


@dataclass(frozen=True)
class TrainSection:
    epochs: int = param(100, "passes over the training set")
    batch_size: int = param(20, "samples per optimizer step")
    lr: float = param(1e-3, "AdamW learning rate")
    weight_decay: float = param(1e-4, "AdamW weight decay")
    scheduler: str = param("cosine", "learning-rate schedule", ("cosine", "step", "none"))
    step_size: int = param(100, "epochs between decays (step schedule)")
    gamma: float = param(0.5, "decay factor (step schedule)")
    grad_clip: float = param(0.0, "clip the gradient norm to this value (0: off)")
    loss: str = param("rel_l2", "training loss", ("rel_l2", "h1"))
    data_weight: float = param(1.0, "weight of the data loss (0 with physics_weight > 0: data-free PINO)")
    physics_weight: float = param(0.0, "weight of the physics loss: the problem's own residual on the output "
                                       "grid (PINO; steady problems)")
    augment: bool = param(False, "transform each batch by a random symmetry the problem declares (darcy_2d: "
                                 "rotations and reflections of the square)")
    amp: str = param("none", "mixed precision on CUDA", ("none", "bf16", "fp16"))
    compile: bool = param(False, "torch.compile the model")
    keep_best: bool = param(False, "end with the weights of the epoch of lowest validation error (else the last)")
    seed: int = param(0, "seed of initialization and batch order")
    device: str = param("auto", "where to train", ("auto", "cpu", "cuda"))
    threads: int = param(0, "CPU threads for torch (0: torch's default)")
    tensorboard: bool = param(False, "also log metrics for TensorBoard (extra: pip install 'pdekit[tensorboard]')")

    def validate(self):
        require(self.epochs >= 1, f"train.epochs must be >= 1, got {self.epochs}")
        require(self.batch_size >= 1, f"train.batch_size must be >= 1, got {self.batch_size}")
        require(self.lr > 0, f"train.lr must be positive, got {self.lr}")
        require(self.weight_decay >= 0 and self.grad_clip >= 0, "train.weight_decay and train.grad_clip must be >= 0")
        require(self.step_size >= 1 and 0 < self.gamma <= 1, "train.step_size must be >= 1 and gamma in (0, 1]")
        require(self.threads >= 0, f"train.threads must be >= 0, got {self.threads}")
        require(self.data_weight >= 0 and self.physics_weight >= 0 and self.data_weight + self.physics_weight > 0,
                "train.data_weight and train.physics_weight must be >= 0 and not both 0")
        require(not self.tensorboard or importlib.util.find_spec("tensorboard") is not None,
                "train.tensorboard=true needs the tensorboard package: pip install 'pdekit[tensorboard]' "
                "(or set train.tensorboard=false; metrics.csv is always written)")


@dataclass(frozen=True)
class EvalSection:
    resolutions: list = field(default_factory=list, metadata={"help": "finer stored grids for resolution transfer"})
    timing_samples: int = param(8, "samples timed for the solver and the model")
    timing_rounds: int = param(5, "alternating timing rounds of the model and each solver setting (medians reported)")
    plot_samples: int = param(3, "test samples shown in the prediction plot")
    solver_ladder: bool = param(True, "time cheaper solver settings for the speed-accuracy plot")

    def validate(self):
        require(self.timing_samples >= 1, f"eval.timing_samples must be >= 1, got {self.timing_samples}")
        require(self.timing_rounds >= 1, f"eval.timing_rounds must be >= 1, got {self.timing_rounds}")
        require(all(isinstance(r, int) and r > 0 for r in self.resolutions),
                f"eval.resolutions must be a list of positive integers, got {self.resolutions}")


SECTIONS = {"data": DataSection, "train": TrainSection, "eval": EvalSection}
TOP_KEYS = ("name", "description", "data", "model", "train", "eval", "quick")


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    data: DataSection
    model: dict
    train: TrainSection
    eval: EvalSection
    raw: dict  # the resolved recipe (quick and overrides applied), for hashing and run folders

    def to_json(self) -> str:
        return json.dumps(self.raw, sort_keys=True)

    def problem(self, resolution: int | None = None):
        """The data's pdekit Problem at ``resolution`` (default: the recipe's stored resolution)."""
        from pdekit.problems import get_problem

        cls = get_problem(self.data.problem)
        return cls.from_params(resolution or self.data.resolution or cls.default_resolution, self.data.params)


def list_recipes() -> list[tuple[str, str]]:
    rows = []
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            raw = yaml.safe_load(entry.read_text())
            rows.append((entry.name[:-5], raw.get("description", "")))
    return rows


def _read(name_or_path: str) -> dict:
    if os.path.exists(name_or_path):
        text = open(name_or_path).read()
        where = name_or_path
    else:
        entry = resources.files(__package__) / f"{name_or_path}.yaml"
        if not entry.is_file():
            known = [r[0] for r in list_recipes()]
            hint = difflib.get_close_matches(name_or_path, known, n=1)
            also = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(f"no recipe or file '{name_or_path}'{also}; shipped recipes: {', '.join(known)}")
        text, where = entry.read_text(), name_or_path
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"'{where}' is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"'{where}' must hold a mapping with the sections {', '.join(TOP_KEYS)}")
    raw.setdefault("name", os.path.splitext(os.path.basename(where))[0])
    return raw


def parse_value(text: str) -> Any:
    """A command-line value: YAML scalars and lists, and numbers such as 1e-3 that YAML 1.1 reads as text."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def apply_override(raw: dict, dotted: str, value: Any, top_keys: tuple[str, ...] = TOP_KEYS) -> None:
    keys = dotted.split(".")
    if keys[0] not in top_keys or keys[0] in ("quick", "kind"):
        allowed = ", ".join(k for k in top_keys if k not in ("quick", "kind", "description"))
        raise ConfigError(f"unknown override '{dotted}': it must start with one of {allowed}")
    node = raw
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{dotted}': '{key}' is not a section")
    node[keys[-1]] = value


def apply_quick_and_overrides(raw: dict, quick: bool, overrides: list[str] | None,
                              top_keys: tuple[str, ...] = TOP_KEYS) -> None:
    """Apply the recipe's ``quick`` overrides (when asked) and then the command line's, in place."""
    quick_overrides = raw.pop("quick", None) or {}
    if quick:
        if not quick_overrides:
            raise ConfigError(f"recipe '{raw['name']}' has no quick variant")
        for key, value in quick_overrides.items():
            apply_override(raw, key, value, top_keys)
        raw["name"] = f"{raw['name']}-quick"
    for pair in overrides or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"overrides are key=value with a dotted key (model.width=64), got '{pair}'")
        apply_override(raw, key.strip(), parse_value(value.strip()), top_keys)


def _check_data_files(data: DataSection, eval_section) -> tuple[tuple[int, int], int]:
    """Open data.file (and data.test_file): layout, sample counts and time indices; returns the
    task's (input, output) channels and the spatial dimension."""
    from pdekit.data.formats import open_source

    if eval_section.resolutions:
        raise ConfigError("eval.resolutions needs generated data: with data.file set, leave it empty")
    sources = []
    n_val = data.validation_count
    for path, needed in ((data.file, data.n_train + n_val + (0 if data.test_file else data.n_test)),
                         (data.test_file, data.n_test)):
        if not path:
            continue
        f, source = open_source(path)
        f.close()
        if source.n < needed:
            raise ConfigError(f"'{path}' holds {source.n} samples; data.n_train = {data.n_train}, data.n_val = "
                              f"{n_val} and data.n_test = {data.n_test} need {needed} from it")
        if source.time_dependent:
            for key in ("input_time", "target_time"):
                t = getattr(data, key)
                require(-source.nt <= t < source.nt, f"data.{key} = {t} is outside the {source.nt} stored times "
                        f"of '{path}'")
        sources.append(source)
    if len(sources) == 2 and (sources[0].channels(), sources[0].ndim) != (sources[1].channels(), sources[1].ndim):
        raise ConfigError("data.file and data.test_file hold different channels or dimensions")
    return sources[0].channels(), sources[0].ndim


def load_recipe(source: str | dict, quick: bool = False, overrides: list[str] | None = None):
    """``source``: a shipped recipe's name, a YAML file, or an already-read recipe mapping."""
    raw = copy.deepcopy(source if isinstance(source, dict) else _read(source))
    if raw.get("kind") == "pinn":  # physics-informed recipes have their own sections
        from pdekit.pinn.recipe import load_pinn_recipe

        return load_pinn_recipe(raw, quick, overrides)
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise ConfigError(f"unknown recipe key '{unknown[0]}'; allowed: {', '.join(TOP_KEYS)}")
    apply_quick_and_overrides(raw, quick, overrides)
    sections = {}
    for section, cls in SECTIONS.items():
        body = raw.get(section) or {}
        if not isinstance(body, dict):
            raise ConfigError(f"recipe section '{section}' must be a mapping, got {body!r}")
        sections[section] = make_config(cls, body, owner=f"section '{section}'")
    model = raw.get("model")
    if not isinstance(model, dict) or "name" not in model:
        raise ConfigError("recipe section 'model' must be a mapping with a 'name' (see `pdekit list models`)")
    # validate the data source now, before any work
    data = sections["data"]
    from pdekit.problems import get_problem

    if data.file:
        (in_channels, out_channels), ndim = _check_data_files(data, sections["eval"])
        ndim += 1 if data.trajectory else 0
    else:
        cls = get_problem(data.problem)
        cls.from_params(data.resolution or cls.default_resolution, data.params)
        for r in sections["eval"].resolutions:
            cls.from_params(r, data.params)
        if data.trajectory and not cls.time_dependent:
            raise ConfigError(f"data.trajectory=true needs a time-dependent problem; {cls.name} is steady")
        (in_channels, out_channels), ndim = cls.channels(), cls.ndim + (1 if data.trajectory else 0)
    from pdekit.models import build_model

    net = build_model(model, in_channels, out_channels, ndim)  # validates the model section
    if sections["train"].physics_weight > 0 and (data.file or (get_problem(data.problem).time_dependent
                                                             and not data.trajectory)):
        raise ConfigError("train.physics_weight (PINO) needs generated data of a steady problem (such as darcy_2d) "
                          "or data.trajectory=true: the residual of a single predicted time slice has no time "
                          "derivative")
    if sections["train"].augment and (data.file or data.trajectory or not get_problem(data.problem).symmetries):
        raise ConfigError("train.augment needs generated data of a problem that declares a symmetry (darcy_2d); "
                          f"{'data.file' if data.file else data.problem} declares none")
    if sections["train"].amp == "fp16" and any(p.is_complex() for p in net.parameters()):
        raise ConfigError(f"train.amp=fp16 needs gradient scaling, which PyTorch does not do for complex weights "
                          f"(model '{model['name']}' has spectral weights); use train.amp=bf16")
    raw["data"] = dataclasses.asdict(data)
    raw["train"] = dataclasses.asdict(sections["train"])
    raw["eval"] = dataclasses.asdict(sections["eval"])
    return Recipe(name=str(raw["name"]), description=str(raw.get("description", "")), data=data,
                  model=dict(model), train=sections["train"], eval=sections["eval"], raw=raw)
