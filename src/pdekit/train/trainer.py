"""One trainer for grid operators: normalizers fitted on the training split, AdamW with a step or
cosine schedule, gradient clipping, optional mixed precision and torch.compile, per-epoch metrics
(CSV) and an atomic checkpoint every epoch from which a killed run resumes.

On the CPU a resumed run ends with exactly the weights of an uninterrupted one: batch order comes
from a generator seeded by (seed, epoch), and the checkpoint holds the model, optimizer, scheduler
and global RNG states.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from pdekit.data.dataset import Normalizer
from pdekit.errors import PdekitError
from pdekit.eval.metrics import relative_l2
from pdekit.models.registry import build_model, count_parameters
from pdekit.recipes import Recipe
from pdekit.train.checkpoint import load_checkpoint, save_checkpoint
from pdekit.train.losses import get_loss

CHECKPOINT = "checkpoint.pt"
METRICS_CSV = "metrics.csv"
CSV_COLUMNS = ["epoch", "train_loss", "val_rel_l2", "lr", "seconds"]


class TrainingDiverged(PdekitError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainedModel:
    model: torch.nn.Module
    x_normalizer: Normalizer
    y_normalizer: Normalizer
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    device: torch.device = torch.device("cpu")
    epoch: int = 0  # the epoch whose weights these are (the best on validation with train.keep_best)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """De-normalized predictions for raw inputs x (n, c, *space), on the CPU."""
        self.model.eval()
        out = []
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size].to(self.device)
            out.append(self.y_normalizer.decode(self.model(self.x_normalizer.encode(xb))).float().cpu())
        return torch.cat(out)


def _physics_loss(recipe: Recipe):
    """PINO's physics loss: the mean square of the problem's own residual (the solver's
    discretization) on the predicted grid: a steady problem's inputs to fields, or a time-dependent
    problem's whole trajectory (plus the misfit of its initial slice)."""
    problem = recipe.problem()
    given = recipe.data.input_time  # the input is the trajectory's slice at this time index

    def loss(pred: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        fields = {name: pred[:, i] for i, name in enumerate(problem.fields)}
        if problem.time_dependent:  # a trajectory (batch, c, nt, *space) through its given slice
            initial = (pred[:, :, given] - x[:, :, 0]).pow(2).mean()
            return problem.residual(fields).pow(2).mean() + initial
        inputs = {name: x[:, i] for i, name in enumerate(problem.inputs)}
        return problem.residual(fields, inputs).pow(2).mean()

    return loss


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise PdekitError("train.device=cuda was asked for but no CUDA device is available; use train.device=cpu")
    return torch.device(name)


def data_grid(recipe: Recipe) -> str:
    """Where the data's points lie: "periodic" (j / n) for a periodic problem's generated data,
    else "nodes" (j / (n - 1); also assumed for a user's file, and for trajectories, whose time axis
    has both ends)."""
    from pdekit.problems import get_problem

    d = recipe.data
    return "periodic" if not (d.file or d.trajectory) and get_problem(d.problem).periodic else "nodes"


def make_model(recipe: Recipe, x: torch.Tensor, y: torch.Tensor) -> torch.nn.Module:
    return build_model(recipe.model, in_channels=x.shape[1], out_channels=y.shape[1], ndim=x.ndim - 2,
                       grid=data_grid(recipe))


def _scheduler(optimizer, cfg):
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def _read_history(path: str, up_to: int) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh) if int(float(row["epoch"])) <= up_to]


def _write_history(path: str, history: list[dict]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in history:
            writer.writerow({k: (int(row[k]) if k == "epoch" else row[k]) for k in CSV_COLUMNS})
    os.replace(tmp, path)


def check_checkpoint_model(state: dict, model: torch.nn.Module, path: str) -> None:
    """Refuse a checkpoint whose weights do not fit ``model`` with a clear message."""
    own = model.state_dict()
    theirs = state["model"]
    missing = [k for k in own if k not in theirs]
    unexpected = [k for k in theirs if k not in own]
    wrong = [k for k in own if k in theirs and tuple(theirs[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                  else f"shape of {wrong[0]}: {tuple(theirs[wrong[0]].shape)} there, {tuple(own[wrong[0]].shape)} here")
        raise PdekitError(f"checkpoint '{path}' belongs to another model ({detail}); use the recipe it was trained with")


def _dihedral(x: torch.Tensor, y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k-th of the square's 8 symmetries (k mod 4 quarter turns, then a reflection for k >= 4),
    applied to inputs and targets alike (the model adds its grid coordinates afterwards, so it sees
    a new sample)."""
    x, y = torch.rot90(x, k % 4, dims=(-2, -1)), torch.rot90(y, k % 4, dims=(-2, -1))
    return (x.flip(-1), y.flip(-1)) if k >= 4 else (x, y)


def _tensorboard_writer(run_dir: str):
    from torch.utils.tensorboard import SummaryWriter  # the recipe checked that tensorboard is installed

    return SummaryWriter(os.path.join(run_dir, "tensorboard"))


def train(recipe: Recipe, run_dir: str, x_train, y_train, x_val, y_val, quiet: bool = False) -> TrainedModel:
    """Train the recipe's model on (x_train, y_train); the validation pairs are scored after every
    epoch (metrics.csv) and, with train.keep_best, choose the weights kept. The test split is never
    seen here."""
    cfg = recipe.train
    torch.manual_seed(cfg.seed)  # before the model is built: its initialization is part of the run
    model = make_model(recipe, x_train, y_train)
    physics = _physics_loss(recipe) if cfg.physics_weight > 0 else None
    identity = {"recipe": recipe.to_json(), "model_name": recipe.model["name"], "grid": data_grid(recipe)}
    return train_module(model, cfg, run_dir, x_train, y_train, x_val, y_val, recipe.name, identity,
                        physics=physics, quiet=quiet)


def fit(model: torch.nn.Module, train_data: tuple[torch.Tensor, torch.Tensor],
        val_data: tuple[torch.Tensor, torch.Tensor], run_dir: str | None = None, quiet: bool = False,
        **options) -> TrainedModel:
    """Train any ``nn.Module`` that maps inputs ``(batch, c_in, *space)`` to outputs
    ``(batch, c_out, *space)``, a user's own included (no registration), with pdekit's trainer.

    Parameters
    ----------
    model : the module; trained in place.
    train_data, val_data : ``(x, y)`` pairs of float tensors, channels first. Per-channel
        normalizers are fitted on ``train_data``; ``val_data`` is scored after every epoch.
    run_dir : folder for ``checkpoint.pt`` and ``metrics.csv`` (a run killed there resumes when
        called again); None trains in a temporary folder.
    options : the recipe's ``train`` keys (``epochs``, ``batch_size``, ``lr``, ``loss``,
        ``keep_best``, ``device``, ...; docs/training.md), validated as in a recipe.

    Returns
    -------
    TrainedModel : the model with its normalizers; ``predict(x)`` gives de-normalized outputs.
    """
    import tempfile

    from pdekit.config import make_config
    from pdekit.recipes import TrainSection

    cfg = make_config(TrainSection, options, owner="fit")
    if cfg.augment or cfg.physics_weight:
        raise PdekitError("fit: augment and physics_weight need a problem; use a recipe (pdekit.pipeline) for them")
    (x_train, y_train), (x_val, y_val) = train_data, val_data
    for name, (x, y) in (("train_data", train_data), ("val_data", val_data)):
        if not (torch.is_tensor(x) and torch.is_tensor(y)) or len(x) != len(y) or x.ndim < 3:
            raise PdekitError(f"fit: {name} must be (x, y) tensors shaped (n, channels, *space) with equal n")
    identity = {"recipe": json.dumps({"fit": dataclasses.asdict(cfg), "model": type(model).__name__}, sort_keys=True),
                "model_name": type(model).__name__, "grid": "nodes"}
    if run_dir is not None:
        return train_module(model, cfg, run_dir, x_train, y_train, x_val, y_val, "fit", identity, quiet=quiet)
    with tempfile.TemporaryDirectory() as folder:
        return train_module(model, cfg, folder, x_train, y_train, x_val, y_val, "fit", identity, quiet=quiet)


def train_module(model: torch.nn.Module, cfg, run_dir: str, x_train, y_train, x_val, y_val, name: str,
                 identity: dict, physics=None, quiet: bool = False) -> TrainedModel:
    """The training loop shared by recipes and ``fit``: ``cfg`` is a TrainSection, ``identity`` the
    checkpoint's description of the run (a resumed run must match it)."""
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    os.makedirs(run_dir, exist_ok=True)
    writer = _tensorboard_writer(run_dir) if cfg.tensorboard else None
    ckpt_path = os.path.join(run_dir, CHECKPOINT)
    csv_path = os.path.join(run_dir, METRICS_CSV)

    x_norm, y_norm = Normalizer.fit(x_train), Normalizer.fit(y_train)
    if cfg.data_weight == 0:  # data-free: the targets must not leak in through their statistics
        y_norm = Normalizer(torch.zeros(y_train.shape[1]), torch.ones(y_train.shape[1]))
    # on the device before the optimizer state is loaded, so a resumed state lands next to the weights
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = _scheduler(optimizer, cfg)
    start_epoch, train_seconds, history = 1, 0.0, []
    best = {}  # with train.keep_best: the weights, epoch and error of the best validation epoch

    if os.path.exists(ckpt_path):
        state = load_checkpoint(ckpt_path)
        if state["recipe"] != identity["recipe"]:
            raise PdekitError(f"'{run_dir}' holds a run of another recipe or config; choose another --out or "
                              f"delete the folder to start afresh")
        check_checkpoint_model(state, model, ckpt_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        x_norm = Normalizer(state["x_mean"], state["x_std"])
        y_norm = Normalizer(state["y_mean"], state["y_std"])
        torch.set_rng_state(state["rng"])
        start_epoch, train_seconds = int(state["epoch"]) + 1, float(state["train_seconds"])
        history = _read_history(csv_path, int(state["epoch"]))
        best = {k: state[k] for k in ("best_model", "best_epoch", "val_rel_l2") if k in state}

    x_norm.to(device)
    y_norm.to(device)
    step_model = torch.compile(model) if cfg.compile else model
    loss_fn = get_loss(cfg.loss)
    use_amp = cfg.amp != "none" and device.type == "cuda"
    if cfg.amp != "none" and not use_amp and not quiet:
        print(f"note: train.amp={cfg.amp} applies on CUDA only; training in float32 on {device}", file=sys.stderr)
    amp_dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and cfg.amp == "fp16")
    if device.type == "cuda":  # the datasets are small: copy them once rather than every step
        x_train, y_train = x_train.to(device), y_train.to(device)
    n = len(x_train)
    result = TrainedModel(model, x_norm, y_norm, history, train_seconds, device)

    bar = tqdm(total=cfg.epochs, initial=start_epoch - 1, unit="epoch", desc=name, disable=quiet,
               file=sys.stderr, dynamic_ncols=True)
    with bar:
        for epoch in range(start_epoch, cfg.epochs + 1):
            started = time.perf_counter()
            model.train()
            generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
            order = torch.randperm(n, generator=generator)
            total, count = 0.0, 0
            for i in range(0, n, cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                xb, yb = x_train[idx].to(device), y_train[idx].to(device)
                if cfg.augment:
                    xb, yb = _dihedral(xb, yb, int(torch.randint(8, (1,), generator=generator)))
                with torch.autocast(device.type, dtype=amp_dtype) if use_amp else nullcontext():
                    pred = y_norm.decode(step_model(x_norm.encode(xb)).float())
                    loss = cfg.data_weight * loss_fn(pred, yb) if cfg.data_weight else 0.0
                    if physics is not None:
                        loss = loss + cfg.physics_weight * physics(pred, xb)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"the loss became {float(loss.detach())} at epoch {epoch}, step {i // cfg.batch_size + 1}; the last "
                        f"good checkpoint (epoch {epoch - 1}) is kept in {run_dir}: lower train.lr (now {cfg.lr:g}) "
                        f"or set train.grad_clip")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            val_error = float(relative_l2(result.predict(x_val), y_val).mean())
            seconds = time.perf_counter() - started
            train_seconds += seconds
            history.append({"epoch": epoch, "train_loss": total / count, "val_rel_l2": val_error, "lr": lr,
                            "seconds": seconds})
            _write_history(csv_path, history)
            if writer is not None:
                for key in ("train_loss", "val_rel_l2", "lr"):
                    writer.add_scalar(key, history[-1][key], epoch)
                writer.flush()
            if cfg.keep_best and val_error < best.get("val_rel_l2", math.inf):
                best = {"best_model": {k: v.detach().clone().cpu() for k, v in model.state_dict().items()},
                        "best_epoch": epoch, "val_rel_l2": val_error}
            save_checkpoint(ckpt_path, {
                **best, **identity, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "x_mean": x_norm.mean.cpu(), "x_std": x_norm.std.cpu(),
                "y_mean": y_norm.mean.cpu(), "y_std": y_norm.std.cpu(), "params": count_parameters(model),
                "epoch": epoch, "rng": torch.get_rng_state(), "train_seconds": train_seconds,
                "in_channels": x_train.shape[1], "out_channels": y_train.shape[1], "ndim": x_train.ndim - 2,
            })
            bar.set_postfix(loss=f"{total / count:.4f}", val=f"{val_error:.4f}",
                            samples_per_s=f"{n / seconds:.0f}")
            bar.update(1)
            if not math.isfinite(val_error):
                raise TrainingDiverged(f"the validation error became {val_error} at epoch {epoch}; lower train.lr")
    result.history, result.train_seconds, result.epoch = history, train_seconds, cfg.epochs
    if "best_model" in best:
        model.load_state_dict(best["best_model"])
        result.epoch = int(best["best_epoch"])
    return result


def load_trained(run_dir: str, device: str = "cpu") -> tuple[TrainedModel, dict]:
    """The trained model of a run folder and its checkpoint (for ``pdekit eval``)."""
    path = os.path.join(run_dir, CHECKPOINT)
    state = load_checkpoint(path)
    recipe_raw = json.loads(state["recipe"])
    model = build_model(recipe_raw["model"], state["in_channels"], state["out_channels"], state["ndim"],
                        state.get("grid", "nodes"))  # checkpoints before the grid was recorded used nodes
    check_checkpoint_model(state, model, path)
    keep_best = "best_model" in state  # written only by runs with train.keep_best
    model.load_state_dict(state["best_model" if keep_best else "model"])
    epoch = int(state["best_epoch" if keep_best else "epoch"])
    dev = torch.device(device)
    model.to(dev)
    x_norm = Normalizer(state["x_mean"], state["x_std"]).to(dev)
    y_norm = Normalizer(state["y_mean"], state["y_std"]).to(dev)
    history = _read_history(os.path.join(run_dir, METRICS_CSV), int(state["epoch"]))
    return TrainedModel(model, x_norm, y_norm, history, float(state["train_seconds"]), dev, epoch), state
