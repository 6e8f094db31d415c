"""The trainer's settings: the ``train`` section of every recipe and the keyword options of ``fit``.

One dataclass holds what the Trainer itself does (optimizer phases, schedule, precision, budget,
logging); each task adds its own keys (``Task.Config``: the operator's loss and augmentation, the
PINN's collocation points and loss balancing) and its own defaults for the trainer's keys (a PINN
runs 2000 full-batch Adam epochs and then L-BFGS). ``make_train_config`` splits one mapping into
the two and validates both.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from dataclasses import dataclass

from pdekit.config import POSITIVE, make_config, param, refuse_unused, require
from pdekit.errors import ConfigError

# keys of earlier pdekit versions, still read (with a note) and written under their new name
RENAMED = {"adam_steps": "epochs", "adam_lr": "lr"}


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = param(100, "first phase: passes over the training data with Adam(W) (a PINN's pass is one step "
                             "on all its points)")
    batch_size: int = param(20, "samples per optimizer step (tasks with a full batch ignore it)")
    lr: float = param(1e-3, "Adam(W) learning rate")
    weight_decay: float = param(1e-4, "AdamW's decoupled weight decay (0: Adam)")
    scheduler: str = param("cosine", "learning-rate schedule over the epochs", ("cosine", "step", "none"))
    step_size: int = param(100, "epochs between decays (step schedule)")
    gamma: float = param(0.5, "decay factor (step schedule)")
    grad_clip: float = param(0.0, "clip the gradient norm to this value (0: off)")
    lbfgs_steps: int = param(0, "second phase: L-BFGS iterations on the full batch (0: none)")
    lbfgs_dtype: str = param("float64", "precision of the L-BFGS phase", ("float64", "float32"))
    lbfgs_history: int = param(50, "L-BFGS history size")
    log_every: int = param(1, "epochs (or L-BFGS iterations) between metrics rows and checkpoints")
    max_seconds: float = param(0.0, "stop after this many seconds of training epochs (0: no limit; validation and "
                                     "checkpoints are not counted)")
    amp: str = param("none", "mixed precision on CUDA", ("none", "bf16", "fp16"))
    compile: bool = param(False, "torch.compile the model (a PINN: its Taylor pass); pays on long runs")
    keep_best: bool = param(False, "end with the weights of the logged epoch of lowest validation error (else the "
                                   "last)")
    seed: int = param(0, "seed of initialization, batch order and sampled points")
    device: str = param("auto", "where to train", ("auto", "cpu", "cuda"))
    threads: int = param(0, "CPU threads for torch (0: torch's default)")
    tensorboard: bool = param(False, "also log metrics for TensorBoard (extra: pip install 'pdekit[tensorboard]')")

    applies_when = {("step_size", "gamma"): ("scheduler", ("step",)),  # (refuse_unused)
                    ("lbfgs_dtype", "lbfgs_history"): ("lbfgs_steps", POSITIVE)}

    @property
    def lbfgs_torch_dtype(self):
        """The torch dtype of the L-BFGS phase."""
        import torch

        return torch.float64 if self.lbfgs_dtype == "float64" else torch.float32

    def validate(self):
        """Check epochs and lbfgs_steps >= 0 and not both 0, batch_size >= 1, lr > 0, weight_decay and
        grad_clip >= 0, step_size >= 1, gamma in (0, 1], log_every and lbfgs_history >= 1, threads and
        max_seconds >= 0, and that tensorboard is installed when asked for."""
        require(self.epochs >= 0 and self.lbfgs_steps >= 0 and self.epochs + self.lbfgs_steps > 0,
                f"train.epochs and train.lbfgs_steps must be >= 0 and not both 0, got {self.epochs} and "
                f"{self.lbfgs_steps}")
        require(self.batch_size >= 1, f"train.batch_size must be >= 1, got {self.batch_size}")
        require(self.lr > 0, f"train.lr must be positive, got {self.lr}")
        for key, least in (("weight_decay", 0), ("grad_clip", 0), ("step_size", 1), ("log_every", 1),
                           ("lbfgs_history", 1), ("threads", 0), ("max_seconds", 0)):
            require(getattr(self, key) >= least, f"train.{key} must be >= {least}, got {getattr(self, key)}")
        require(0 < self.gamma <= 1, f"train.gamma must be in (0, 1], got {self.gamma}")
        refuse_unused(self, "train.")
        require(not self.tensorboard or importlib.util.find_spec("tensorboard") is not None,
                "train.tensorboard=true needs the tensorboard package: pip install 'pdekit[tensorboard]' "
                "(or set train.tensorboard=false; metrics.csv is always written)")


def make_train_config(task_cls: type, options: dict | None = None, owner: str = "train") -> tuple[TrainConfig, object]:
    """(TrainConfig, the task's Config) from one mapping of ``train`` keys: the task's defaults for
    the trainer's keys apply where the mapping is silent; old key names are read with a note.

    Parameters
    ----------
    task_cls : type
        A Task subclass: its ``Config``, ``train_defaults`` and ``check_train_config`` are used.
    options : dict or None
        The ``train`` keys, the Trainer's and the task's mixed (values may be strings).
    owner : str
        Where the keys come from, for messages ("train", "fit").

    Returns
    -------
    cfg : TrainConfig
        The Trainer's settings.
    task_cfg : dataclass instance
        The task's settings (``task_cls.Config``).

    Raises
    ------
    ConfigError
        For an unknown key, an old and a new name given together, an invalid value, or settings the
        task cannot honour.
    """
    options = dict(options or {})
    for old, new in RENAMED.items():
        if old in options:
            if new in options:
                raise ConfigError(f"{owner}: '{old}' is the old name of '{new}'; give only '{new}'")
            print(f"note: {owner}.{old} is now {owner}.{new}", file=sys.stderr)
            options[new] = options.pop(old)
    own = {f.name for f in dataclasses.fields(TrainConfig)}
    task_keys = {f.name for f in dataclasses.fields(task_cls.Config)}
    unknown = sorted(set(options) - own - task_keys)
    if unknown:
        import difflib

        hint = difflib.get_close_matches(unknown[0], sorted(own | task_keys), n=1)
        also = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ConfigError(f"unknown parameter '{unknown[0]}' of {owner}{also}; known parameters: "
                          f"{', '.join(sorted(own | task_keys))}")
    trainer = {**task_cls.train_defaults, **{k: v for k, v in options.items() if k in own}}
    cfg = make_config(TrainConfig, trainer, owner=owner)
    task_cfg = make_config(task_cls.Config, {k: v for k, v in options.items() if k in task_keys}, owner=owner)
    task_cls.check_train_config(cfg, task_cfg)
    return cfg, task_cfg


def train_section(cfg: TrainConfig, task_cfg) -> dict:
    """The resolved ``train`` section: the trainer's keys and the task's, as a recipe stores them."""
    return {**dataclasses.asdict(cfg), **dataclasses.asdict(task_cfg)}
