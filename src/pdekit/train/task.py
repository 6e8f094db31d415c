"""What the one Trainer asks of a training mode (a task), and the registry of tasks.

A task says what a batch is and how a batch is scored; the Trainer owns everything else (optimizer
phases, schedule, precision, budget, NaN stop, checkpoints, metrics.csv, progress bar). A new
training mode is one module with a ``Task`` subclass registered by ``@register_task``, plus its test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterable

import torch

from pdekit.errors import ConfigError

TASKS: dict[str, type["Task"]] = {}


def register_task(cls: type["Task"]) -> type["Task"]:
    """Class decorator: make a task available by its ``name``."""
    TASKS[cls.name] = cls
    return cls


def get_task(name: str) -> type["Task"]:
    """The registered task class ``name``.

    Parameters
    ----------
    name : str
        The task's ``name`` ("operator", "pinn", ...).

    Returns
    -------
    type
        The Task subclass.

    Raises
    ------
    ConfigError
        For an unknown name.
    """
    if name not in TASKS:
        raise ConfigError(f"unknown task '{name}'; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]


@dataclass(frozen=True)
class NoOptions:
    """A task without options of its own."""


class Task:
    """The training mode's half of a training run.

    Subclasses set ``name``, ``Config`` (the task's own ``train`` keys, a dataclass built with
    pdekit.config.param) and ``train_defaults`` (its defaults for the Trainer's keys), and implement
    ``batches`` and ``loss``; the other methods have defaults that do nothing.
    """

    name: ClassVar[str]
    Config: ClassVar[type] = NoOptions
    train_defaults: ClassVar[dict] = {}
    full_batch: ClassVar[bool] = False  # a batch is all the training data (L-BFGS can run on it)
    # the metrics.csv column (from validate) that train.keep_best minimizes
    selection_metric: ClassVar[str | None] = None

    config: Any = NoOptions()
    # set by the Trainer before ``setup``: a checkpoint's ``load_state_dict`` follows, so ``setup`` may
    # skip what that replaces (an online source's first fill, solved only for its normalizers)
    resuming: bool = False

    @classmethod
    def check_train_config(cls, cfg, task_cfg) -> None:
        """Refuse combinations of the Trainer's settings that this task cannot honour."""
        if cfg.lbfgs_steps and not cls.full_batch:
            raise ConfigError(f"train.lbfgs_steps needs a full-batch task; the {cls.name} task trains on batches")
        if cfg.keep_best and cls.selection_metric is None:
            raise ConfigError(f"train.keep_best needs a validation metric; the {cls.name} task has none")

    def configure(self, config) -> None:
        """Take ``config`` (the task's Config), refusing what this task's data cannot honour; the
        constructor and ``fit`` (with options) both come through here."""
        self.config = config

    def fingerprint(self) -> str:
        """A digest of the task's data, part of a checkpoint's identity: a run folder refuses to
        resume on other data."""
        return ""

    def setup(self, model: torch.nn.Module, cfg, device: torch.device) -> None:
        """Before training and before a checkpoint is loaded: draw points, fit normalizers, ..."""

    def attach_progress(self, show) -> None:
        """Receive ``show(text)``, which writes ``text`` in the progress bar (for a task whose data
        can keep the trainer waiting)."""

    def batches(self, epoch: int, dtype: torch.dtype) -> Iterable[Any]:
        """The batches of ``epoch`` (1-based), a pure function of the task's state and the epoch."""
        raise NotImplementedError

    def loss(self, model: torch.nn.Module, batch: Any, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """(the loss to minimize, named parts to log) for one batch; ``step`` counts optimizer steps
        before this one."""
        raise NotImplementedError

    def shard(self, batch: Any, rank: int, world: int) -> Any:
        """This process's share of a batch in distributed training: every tensor of a tuple batch
        (or the batch itself) split along its first axis, rank::world; other items kept."""
        if isinstance(batch, (tuple, list)):
            return type(batch)(b[rank::world] if torch.is_tensor(b) else b for b in batch)
        return batch[rank::world]

    def batch_size(self, batch: Any) -> int:
        """The weight of the batch in the epoch's mean loss."""
        return 1

    def after_step(self, model: torch.nn.Module, epoch: int) -> None:
        """After each Adam epoch (a full-batch task refines its points here)."""

    def validate(self, model: torch.nn.Module) -> dict[str, float]:
        """Validation metrics, logged with each metrics row."""
        return {}

    def state_dict(self) -> dict:
        """What a resumed run needs besides the model and optimizer (plain tensors and data)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned when resuming; ``state`` is the whole checkpoint
        mapping, which holds those keys among others."""
        pass

    def result(self, trained):
        """What ``fit`` returns for this task, made from the Trainer's TrainResult."""
        return trained
