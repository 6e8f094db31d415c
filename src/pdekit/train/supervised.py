"""Supervised operator learning as a task of the one Trainer: pairs (x, y) on a grid, per-channel
normalizers fitted on the training split, a relative L2 or H1 loss on de-normalized outputs, PINO's
physics loss where a problem supplies its residual, and symmetry augmentation; the validation
pairs are scored after every logged epoch (``val_rel_l2``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable

import torch

from pdekit.config import param, refuse_unused, require
from pdekit.data.dataset import Normalizer
from pdekit.data.sources import MemoryPairs, PairSource, _digest
from pdekit.data.symmetry import MAX_WARP
from pdekit.errors import ConfigError, PdekitError
from pdekit.eval.metrics import relative_l2
from pdekit.models.registry import check_grid
from pdekit.train.checkpoint import load_checkpoint, recorded_processes
from pdekit.train.losses import LOSSES, make_loss
from pdekit.train.task import Task, register_task


@dataclass(frozen=True)
class SupervisedConfig:
    loss: str = param("rel_l2", "training loss (sobolev: the relative H^s norm in Fourier space, s = sobolev_s)",
                      tuple(LOSSES))
    sobolev_s: float = param(1.0, "exponent of the sobolev loss: > 0 weighs high frequencies up, < 0 down (H^-s)")
    data_weight: float = param(1.0, "weight of the data loss (0 with physics_weight > 0: data-free PINO)")
    physics_weight: float = param(0.0, "weight of the physics loss: the problem's own residual on the output "
                                       "grid (PINO)")
    augment: bool = param(False, "transform each batch by random symmetries the problem declares (darcy_2d: the "
                                 "square's rotations and reflections; heat: shifts, reflections, superposition; "
                                 "Burgers, KdV, KS: shifts and boosts; darcy_tensor_2d: coordinate changes; "
                                 "data/symmetry.py)")
    augment_boost: float = param(0.0, "largest speed c of the Galilean boost u0 + c -> u(x - c T, T) + c "
                                      "(0: none; burgers_1d, kdv_1d, kuramoto_sivashinsky_1d)")
    augment_warp: float = param(0.0, "largest gradient of the random change of coordinates of general-covariance "
                                     "augmentation, in [0, 0.9] (0: none; darcy_tensor_2d)")

    applies_when = {("sobolev_s",): ("loss", ("sobolev",))}  # (refuse_unused)

    def validate(self):
        """Check that data_weight and physics_weight are >= 0 and not both 0, augment_boost >= 0 and
        augment_warp in [0, 0.9], both with augment, and sobolev_s only with the sobolev loss."""
        require(self.data_weight >= 0 and self.physics_weight >= 0 and self.data_weight + self.physics_weight > 0,
                "train.data_weight and train.physics_weight must be >= 0 and not both 0")
        require(self.augment_boost >= 0 and (self.augment or not self.augment_boost),
                f"train.augment_boost must be >= 0 and needs train.augment: true, got {self.augment_boost}")
        require(0 <= self.augment_warp <= MAX_WARP and (self.augment or not self.augment_warp),
                f"train.augment_warp must lie in [0, {MAX_WARP}] and needs train.augment: true, got {self.augment_warp}")
        refuse_unused(self, "train.")


@dataclass
class TrainedModel:
    """A trained operator with the normalizers it was trained with.

    Parameters
    ----------
    model : torch.nn.Module
        The trained module, mapping normalized inputs to normalized outputs.
    x_normalizer, y_normalizer : Normalizer
        The per-channel normalizers of the inputs and targets (fitted on the training split).
    history : list of dict
        One metrics row per logged epoch (metrics.csv).
    train_seconds : float
        Training wall time.
    device : torch.device
        Where the model and normalizers live.
    epoch : int
        The epoch whose weights these are.
    processes : list of int
        The process count of each session that trained it ([] where unrecorded).
    """
    model: torch.nn.Module
    x_normalizer: Normalizer
    y_normalizer: Normalizer
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    device: torch.device = torch.device("cpu")
    epoch: int = 0  # the epoch whose weights these are (the best on validation with train.keep_best)
    processes: list = field(default_factory=list)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """De-normalized predictions for raw inputs x (n, c, *space), on the CPU.

        Parameters
        ----------
        x : torch.Tensor
            Raw inputs, (n, in_channels, *space), on any device.
        batch_size : int
            Samples per forward pass.

        Returns
        -------
        torch.Tensor
            Predictions in the data's units, (n, out_channels, *space), float32, on the CPU.
        """
        self.model.eval()
        out = []
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size].to(self.device)
            out.append(self.y_normalizer.decode(self.model(self.x_normalizer.encode(xb))).float().cpu())
        return torch.cat(out)

    def row(self, epoch: int | None = None) -> dict:
        """The metrics row of ``epoch`` (default: the epoch of these weights); {} if not logged."""
        epoch = self.epoch if epoch is None else epoch
        from pdekit.train.trainer import history_row

        return history_row(self.history, epoch)


def _check_pair(pair, name: str, owner: str) -> None:
    """Refuse (x, y) when empty, not floating point, or holding NaN or inf (which would show up
    later as a NaN loss, blamed on the learning rate)."""
    if len(pair[0]) == 0:
        raise PdekitError(f"{owner}: {name} holds no samples")
    for label, t in zip(("x", "y"), pair):
        if not t.is_floating_point():
            raise PdekitError(f"{owner}: {name}'s {label} must hold floating-point numbers, got {t.dtype} "
                              f"(convert with .float())")
        bad = ~torch.isfinite(t).flatten(1).all(dim=1)
        if bad.any():
            raise PdekitError(f"{owner}: {name}'s {label} holds NaN or inf values in {int(bad.sum())} sample(s), "
                              f"the first {int(bad.nonzero()[0])}")
    zero = ~pair[1].flatten(1).any(dim=1)
    if zero.any():  # the relative L2 error (the metric, and the default loss) divides by the target's norm
        raise PdekitError(f"{owner}: {name}'s y is zero everywhere in {int(zero.sum())} sample(s), the first "
                          f"{int(zero.nonzero()[0])}: their relative L2 error is undefined; leave them out")


@register_task
class SupervisedTask(Task):
    """Operator learning from pairs.

    Parameters
    ----------
    train_data : ``(x, y)`` float tensors shaped ``(n, channels, *space)``, or a PairSource
        (pdekit.data.sources: a file streamed in chunks; pdekit.data.online: solver workers).
    val_data : ``(x, y)`` float tensors shaped ``(n, channels, *space)``.
    config : SupervisedConfig (the ``train`` keys loss, data_weight, physics_weight, augment).
    physics : PINO's physics loss ``physics(prediction, x) -> scalar`` (the problem's residual on the
        predicted grid), required when ``config.physics_weight > 0``.
    augmentation : ``(x, y, generator) -> (x, y)``, the problem's symmetries
        (pdekit.data.symmetry.problem_augmentation), required when ``config.augment``.
    owner : who builds the task ("train", "fit"), for error messages.
    grid : "nodes" or "periodic", where the data's points lie (the h1 loss's differences).
    """

    name = "operator"
    Config = SupervisedConfig
    selection_metric = "val_rel_l2"

    def __init__(self, train_data, val_data, config: SupervisedConfig | None = None,
                 physics: Callable | None = None, owner: str = "train", augmentation: Callable | None = None,
                 grid: str = "nodes"):
        check_grid(owner, grid)
        pairs = {} if isinstance(train_data, PairSource) else {"train_data": train_data}
        pairs["val_data"] = val_data  # (after train_data: the first named is the first the user gave)
        for name, pair in pairs.items():
            if (not isinstance(pair, (tuple, list)) or len(pair) != 2 or not all(torch.is_tensor(t) for t in pair)
                    or len(pair[0]) != len(pair[1]) or pair[0].ndim < 3):
                raise PdekitError(f"{owner}: {name} must be (x, y) tensors shaped (n, channels, *space) with equal n")
            _check_pair(pair, name, owner)
        self.source = train_data if isinstance(train_data, PairSource) else MemoryPairs(*train_data)
        self.x_val, self.y_val = val_data
        if self.source.channels != (self.x_val.shape[1], self.y_val.shape[1]) or self.source.ndim != self.x_val.ndim - 2:
            raise PdekitError(f"{owner}: the training and validation pairs differ in channels or dimensions")
        self.physics, self.augmentation, self.owner, self.grid = physics, augmentation, owner, grid
        self.configure(config or SupervisedConfig())

    def configure(self, config: SupervisedConfig) -> None:
        """Take ``config``, refusing PINO without a residual and augmentation without symmetries."""
        if (config.physics_weight and self.physics is None) or (config.augment and self.augmentation is None):
            raise ConfigError(f"{self.owner}: augment and physics_weight need a problem (its symmetry, its residual); "
                              f"use a recipe (pdekit.pipeline) for them, or give SupervisedTask(..., physics=..., "
                              f"augmentation=pdekit.data.symmetry.pair_augmentation(...))")
        self.config = config

    def fingerprint(self) -> str:
        """sha256 of the training data (its bytes, or a streamed file's identity) and the validation
        tensors."""
        return _digest(self.x_val, self.y_val) + self.source.fingerprint()

    def setup(self, model, cfg, device):
        self.seed, self.batch = cfg.seed, cfg.batch_size
        self.device = device
        if self.resuming:  # the checkpoint's normalizers follow; an online source solves no first fill for them
            self.x_norm, self.y_norm = (Normalizer(torch.zeros(c), torch.ones(c)) for c in self.source.channels)
        else:
            self.x_norm, self.y_norm = self.source.normalizers()
        if self.config.data_weight == 0:  # data-free: the targets must not leak in through their statistics
            c = self.source.channels[1]
            self.y_norm = Normalizer(torch.zeros(c), torch.ones(c))
        self._to_device()
        if device.type == "cuda" and isinstance(self.source, MemoryPairs):
            self.source.to(device)  # the datasets are small: copy them once rather than every step
        self._check_shapes(model, device)
        self.forward = torch.compile(model) if cfg.compile else model
        self.loss_fn = make_loss(self.config.loss, self.config.sobolev_s, self.grid)
        self.model = model

    def _check_shapes(self, model, device) -> None:
        """One validation input through the model (no gradient, eval mode): its output must be
        shaped like the targets, or training would fail inside torch or broadcast silently."""
        x, y = self.x_val[:1].to(device), self.y_val[:1]
        weight = next((p for p in model.parameters() if p.is_floating_point()), None)
        if weight is not None and weight.dtype != x.dtype:
            raise PdekitError(f"{self.owner}: the data is {x.dtype} and the model {weight.dtype}: convert one of them "
                              f"(x.float(), y.float(), or model.to({x.dtype}))")
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model(self.x_norm.encode(x))
        except RuntimeError as exc:
            raise PdekitError(f"{self.owner}: the model fails on an input shaped {tuple(x.shape[1:])} (channels, "
                              f"*space): {str(exc).splitlines()[0]}; its input channels must match x's") from None
        finally:
            model.train(was_training)
        if tuple(out.shape) != tuple(y.shape):
            raise PdekitError(f"{self.owner}: the model maps inputs shaped {tuple(x.shape[1:])} (channels, *space) to "
                              f"{tuple(out.shape[1:])}, but the targets are shaped {tuple(y.shape[1:])}: match the "
                              f"model's output channels and grid to y")

    def _to_device(self):
        self.x_norm.to(self.device)
        self.y_norm.to(self.device)

    def batches(self, epoch, dtype):
        seed = self.seed * 1_000_003 + epoch
        if self.source.sharded:  # each process augments (and draws) its own share: not the same draws on every one
            seed += self.source.rank * 998_244_353
        generator = torch.Generator().manual_seed(seed)
        for xb, yb in self.source.batches(self.batch, generator):
            xb, yb = xb.to(self.device), yb.to(self.device)
            if self.config.augment:
                xb, yb = self.augmentation(xb, yb, generator)
            yield xb, yb

    def attach_progress(self, show):
        self.source.show = show

    def shard(self, batch, rank, world):
        """This process's share of a batch (a source that streams per process yields it already)."""
        return batch if self.source.sharded else super().shard(batch, rank, world)

    def batch_size(self, batch):
        return len(batch[0])

    def loss(self, model, batch, step):
        xb, yb = batch
        c = self.config
        pred = self.y_norm.decode(self.forward(self.x_norm.encode(xb)).float())
        loss = c.data_weight * self.loss_fn(pred, yb) if c.data_weight else 0.0
        if self.physics is not None and c.physics_weight:
            loss = loss + c.physics_weight * self.physics(pred, xb)
        return loss, {}

    def trained(self, model, history=(), seconds=0.0, epoch=0) -> TrainedModel:
        """``model`` with this task's normalizers and device as a TrainedModel.

        Parameters
        ----------
        model : torch.nn.Module
            The module (trained or in training).
        history : sequence of dict
            Metrics rows.
        seconds : float
            Training wall time.
        epoch : int
            The epoch whose weights these are.

        Returns
        -------
        TrainedModel
        """
        return TrainedModel(model, self.x_norm, self.y_norm, list(history), seconds, self.device, epoch)

    def validate(self, model):
        val = float(relative_l2(self.trained(model).predict(self.x_val), self.y_val).mean())
        return {"val_rel_l2": val, **self.source.stats()}

    def state_dict(self):
        return {"x_mean": self.x_norm.mean.cpu(), "x_std": self.x_norm.std.cpu(), "y_mean": self.y_norm.mean.cpu(),
                "y_std": self.y_norm.std.cpu(), "in_channels": self.source.channels[0],
                "out_channels": self.source.channels[1], "ndim": self.source.ndim, **self.source.state_dict()}

    def load_state_dict(self, state):
        """Restore the normalizers from a checkpoint (those the run was trained with)."""
        self.x_norm = Normalizer(state["x_mean"], state["x_std"])
        self.y_norm = Normalizer(state["y_mean"], state["y_std"])
        self._to_device()
        self.source.load_state_dict(state)

    def result(self, trained) -> TrainedModel:
        result = self.trained(trained.model, trained.history, trained.seconds, trained.epoch)
        result.processes = list(trained.processes)
        return result


def load_trained(run_dir: str, device: str = "cpu") -> tuple[TrainedModel, dict]:
    """The trained model of an operator run folder and its checkpoint (for ``pdekit eval``).

    The model is rebuilt from the recipe stored in the checkpoint, with the best validation epoch's
    weights where the run kept them (train.keep_best), else the last.

    Parameters
    ----------
    run_dir : str
        The run folder holding checkpoint.pt.
    device : str
        Where to put the model and normalizers.

    Returns
    -------
    trained : TrainedModel
        The model, normalizers, metrics history, training time and epoch of the weights.
    state : dict
        The checkpoint's mapping.

    Raises
    ------
    PdekitError
        If there is no readable checkpoint, it is not an operator run's, or its weights do not fit the
        model its recipe builds.
    """
    from pdekit.models.registry import as_trained, build_model
    from pdekit.train.trainer import METRICS_CSV, check_checkpoint_model, read_history

    path = os.path.join(run_dir, "checkpoint.pt")
    state = load_checkpoint(path)
    recipe_raw = json.loads(state["recipe"])
    if "model" not in recipe_raw or "in_channels" not in state:
        raise PdekitError(f"'{path}' is not the checkpoint of an operator run")
    config, grid = as_trained(recipe_raw["model"], state.get("grid", "nodes"), state)  # unrecorded: nodes
    model = build_model(config, state["in_channels"], state["out_channels"], state["ndim"], grid)
    check_checkpoint_model(state, model, path)
    keep_best = "best_model" in state  # written only by runs with train.keep_best
    model.load_state_dict(state["best_model" if keep_best else "model"])
    epoch = int(state["best_epoch" if keep_best else "epoch"])
    dev = torch.device(device)
    model.to(dev)
    x_norm = Normalizer(state["x_mean"], state["x_std"]).to(dev)
    y_norm = Normalizer(state["y_mean"], state["y_std"]).to(dev)
    if "history" in state:
        history = json.loads(state["history"])
    else:  # an older pdekit kept the rows in metrics.csv only
        history = read_history(os.path.join(run_dir, METRICS_CSV), int(state["epoch"]))
    return TrainedModel(model, x_norm, y_norm, history, float(state.get("seconds", state.get("train_seconds", 0.0))),
                        dev, epoch, recorded_processes(state)), state
