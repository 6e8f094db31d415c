"""``fit``: the Python entry point to the one Trainer, for a user's own module and data."""

from __future__ import annotations

import dataclasses
import json
import tempfile

import torch

from pdekit.errors import PdekitError
from pdekit.train.config import make_train_config
from pdekit.train.supervised import SupervisedTask
from pdekit.train.task import Task
from pdekit.train.trainer import Trainer


def fit(model: torch.nn.Module, task, val_data=None, run_dir: str | None = None, quiet: bool = False,
        **options) -> object:
    """Train any ``nn.Module``, a user's own included (no registration), with pdekit's Trainer.

    Parameters
    ----------
    model : the module; trained in place.
    task : a Task (``SupervisedTask``, ``pdekit.pinn.PinnTask``, ...), or an ``(x, y)`` pair of
        float tensors shaped ``(n, channels, *space)`` for supervised training (then ``val_data``
        is the validation pair, scored after every epoch; per-channel normalizers are fitted on
        the training pair).
    val_data : the validation pair ``(x_val, y_val)`` with an ``(x, y)`` task; None with a Task,
        which holds its own validation data.
    run_dir : folder for ``checkpoint.pt`` and ``metrics.csv`` (a run killed there resumes when
        called again); None trains in a temporary folder.
    quiet : no progress bar.
    options : ``train`` keys (``epochs``, ``batch_size``, ``lr``, ``lbfgs_steps``, ``keep_best``,
        ``device``, ..., and the task's own; docs/training.md), validated as in a recipe.

    Returns
    -------
    The task's result: for supervised training a TrainedModel (``predict(x)`` gives de-normalized
    outputs), for a PINN a summary dict; a TrainResult for tasks without their own.

    Raises
    ------
    PdekitError
        If an ``(x, y)`` pair comes without ``val_data`` or a Task with it, an option is unknown or
        invalid (ConfigError), or training diverges (TrainingDiverged).

    Examples
    --------
    >>> trained = fit(my_module, (x_train, y_train), (x_val, y_val), epochs=20)  # doctest: +SKIP
    """
    if not isinstance(model, torch.nn.Module):
        raise PdekitError(f"fit: model must be a torch.nn.Module (its parameters are trained), got "
                          f"{type(model).__name__}")
    if not isinstance(task, Task):
        if val_data is None:
            raise PdekitError("fit: give the validation pair too: fit(model, (x, y), (x_val, y_val), ...)")
        cfg, task_cfg = make_train_config(SupervisedTask, options, owner="fit")
        grid = getattr(model, "grid", "nodes")  # a pdekit model's data grid (a user's attribute may be anything)
        grid = grid if isinstance(grid, str) and grid in ("nodes", "periodic") else "nodes"
        task = SupervisedTask(task, val_data, task_cfg, owner="fit", grid=grid)
    else:
        if val_data is not None:
            raise PdekitError("fit: a task holds its own validation data; give val_data only with an (x, y) pair")
        cfg, task_cfg = make_train_config(type(task), {**dataclasses.asdict(task.config), **options}, owner="fit")
        task.configure(task_cfg)  # the task's own checks, as its constructor makes them
    setup = {"fit": type(model).__name__, "task": task.name, "data": task.fingerprint()}
    if callable(getattr(model, "fingerprint", None)):  # a PINN: the problem it states
        setup["problem"] = model.fingerprint()
    if callable(getattr(model, "configuration", None)):  # a rollout wrapper: its target, step, history
        setup["rollout"] = model.configuration()
    setup = json.dumps(setup, sort_keys=True)
    threads = torch.get_num_threads()  # train.threads is for training: the caller's code afterwards keeps its own
    try:
        if run_dir is not None:
            return task.result(Trainer(model, task, cfg, run_dir, setup, name="fit", quiet=quiet).fit())
        with tempfile.TemporaryDirectory() as folder:
            return task.result(Trainer(model, task, cfg, folder, setup, name="fit", quiet=quiet).fit())
    finally:
        torch.set_num_threads(threads)
