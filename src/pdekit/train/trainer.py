"""The one Trainer: any ``nn.Module`` and a task (what a batch is and how it is scored) in, a trained
module and its metrics out.

It owns what every training mode shares: an Adam(W) phase over epochs with a step or cosine
schedule, gradient clipping, mixed precision and torch.compile, then an optional L-BFGS phase on
the full batch (float64 by default); a time budget; a stop on NaN that keeps the last good
checkpoint; metrics.csv, TensorBoard and a progress bar; and atomic checkpoints every
``log_every`` epochs from which a killed run resumes. On the CPU a resumed run ends with exactly
the weights of an uninterrupted one: batches are a function of (seed, epoch), and the checkpoint
holds the model, optimizer, scheduler, task and RNG states.
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

from pdekit.errors import ConfigError, DataFileError, PdekitError
from pdekit.models.registry import count_parameters
from pdekit.paths import check_writable_dir
from pdekit.progress import progress_bar, show_postfix
from pdekit.train.checkpoint import load_checkpoint, recorded_processes, save_checkpoint
from pdekit.train.config import TrainConfig
from pdekit.train.lbfgs import lbfgs_chunk, make_lbfgs
from pdekit.train.task import Task

CHECKPOINT = "checkpoint.pt"
METRICS_CSV = "metrics.csv"
FORMAT = 2  # checkpoint layout of the one Trainer (earlier ones cannot be resumed)


class TrainingDiverged(PdekitError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What ``Trainer.fit`` returns: the trained module (the best logged epoch's weights with
    train.keep_best), one metrics row per logged epoch, and why training stopped."""
    model: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    phase_seconds: dict = field(default_factory=dict)  # {"adam": s, "lbfgs": s}
    epoch: int = 0  # the epoch whose weights these are
    steps: int = 0  # Adam epochs and L-BFGS iterations done
    stop_reason: str = ""
    device: torch.device = torch.device("cpu")
    threads: int = 0  # torch's CPU threads in the process that trained (0: not recorded, an older run)
    processes: list = field(default_factory=list)  # the process count of each session that trained it, in
    # order, repeats merged ([2, 1]: two processes, resumed by one; []: not recorded, an older run)


def stage_starts(epochs: int, stages) -> list[int]:
    """The first epoch (0-based) of each stage of a model trained in stages (``model.training_stages``):
    an int S for S equal shares of ``epochs`` (SpecBoost), or a tuple of shares summing to 1
    (the Spectral-Refiner's long first stage and short fine-tuning)."""
    if isinstance(stages, int):
        return [-(-s * epochs // stages) for s in range(stages)]
    starts, done = [0], 0.0
    for share in stages[:-1]:
        done += share
        starts.append(round(done * epochs))
    return starts


def _grad_scaler(device: torch.device, amp: str) -> torch.amp.GradScaler:
    """fp16 loss scaling (CUDA only; a no-op otherwise). Its scale is checkpointed: a resumed run
    skips and scales its steps as the unbroken run would."""
    return torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and amp == "fp16")


def check_training(model: torch.nn.Module, cfg: TrainConfig, name: str | None = None) -> None:
    """Refuse what training ``model`` (recipe model ``name``) cannot honour: fp16 for complex
    (spectral) weights, which PyTorch's gradient scaling skips, and a schedule that leaves a stage
    of a model trained in stages (SpecBoost, Spectral-Refiner) without an epoch, whose training
    would be skipped silently."""
    if cfg.amp == "fp16" and any(p.is_complex() for p in model.parameters()):
        which = f"model '{name}'" if name else f"the {type(model).__name__}"
        raise ConfigError(f"train.amp=fp16 needs gradient scaling, which PyTorch does not do for complex weights "
                          f"({which} has spectral weights); use train.amp=bf16")
    stages = getattr(model, "training_stages", None)
    if stages is None:
        return
    bounds = stage_starts(cfg.epochs, stages) + [cfg.epochs]
    empty = [s + 1 for s in range(len(bounds) - 1) if bounds[s + 1] <= bounds[s]]
    if empty:
        raise ConfigError(f"train.epochs = {cfg.epochs} leaves stage {empty[0]} of the model's "
                          f"{len(bounds) - 1} training stages (shares {stages}) without an epoch: raise "
                          f"train.epochs (or the model's refine_share / stages)")


def check_processes(task, cfg: TrainConfig, world: int) -> None:
    """Refuse a global batch that leaves a process without a sample: every batch would be skipped."""
    if world > 1 and not task.full_batch and cfg.batch_size < world:
        raise ConfigError(f"train.batch_size = {cfg.batch_size} gives no sample to some of the {world} processes: "
                          f"set it to {world} or more")


def stage_of(epoch: int, epochs: int, stages) -> int:
    """The stage (0-based) of ``epoch`` (1-based); ``stages`` as for ``stage_starts``."""
    return max(s for s, start in enumerate(stage_starts(epochs, stages)) if start <= epoch - 1)


def staged_cosine(epoch: int, epochs: int, stages) -> float:
    """The learning-rate factor of ``epoch`` (0-based): a cosine from 1 to 0 over each stage."""
    starts = stage_starts(epochs, stages) + [epochs]
    stage = stage_of(epoch + 1, epochs, stages)
    length = starts[stage + 1] - starts[stage]
    return 0.5 * (1 + math.cos(math.pi * (epoch - starts[stage]) / max(length, 1)))


def history_row(history: list[dict], epoch: int) -> dict:
    """The metrics row of ``epoch`` ({} if that epoch was not logged)."""
    return next((row for row in history if int(row["epoch"]) == epoch), {})


def resolve_device(name: str, option: str = "train.device") -> torch.device:
    """The device of a ``train.device`` setting.

    Parameters
    ----------
    name : str
        "auto" (CUDA where available, else the CPU), "cpu" or "cuda".
    option : str
        Where the user set it, for the message: "train.device" or a flag such as "--device".

    Returns
    -------
    torch.device

    Raises
    ------
    PdekitError
        If "cuda" is asked for and no CUDA device is available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        sep = "=" if "." in option else " "  # a recipe key (train.device=cpu) or a flag (--device cpu)
        raise PdekitError(f"{option}{sep}cuda was asked for but no CUDA device is available; use {option}{sep}cpu")
    return torch.device(name)


def distributed() -> tuple[int, int]:
    """(rank, world size) of this process: under torchrun (WORLD_SIZE > 1) the process group is
    initialized here if it is not yet (gloo on CPU; with CUDA, NCCL for CUDA tensors and gloo for
    CPU ones); (0, 1) otherwise."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1 or not dist.is_available():
        return 0, 1
    if not dist.is_initialized():
        if torch.cuda.is_available():  # one GPU per process, before NCCL picks one for every process
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        # NCCL reduces CUDA tensors only: the CPU scalars of the metrics rows and the batch checks go through gloo
        dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _all_reduce(values: list[float], op: str = "sum") -> list[float]:
    """The sum (or max, min) of each value over all processes."""
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, op={"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}[op])
    return t.tolist()


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
        if any(k.split(".")[-1] == "points" for k in missing + unexpected):  # MP-PDE on scattered points
            detail += "; a message-passing model on scattered points: give this one the same set_points first"
        raise PdekitError(f"checkpoint '{path}' belongs to another model ({detail}); use the recipe it was trained with")


# recipe keys added since runs were saved, at the value that leaves such a run as it was (a file of
# The Well that is periodic on every axis, and a file pdekit generated of a periodic problem, are the
# exceptions for data.grid: the grid check refuses them)
ADDED_KEYS = {("data", "grid"): "auto"}


def _same_run(saved: str, now: str) -> bool:
    """Whether two recipe or config JSON texts are the same run, a key added since (ADDED_KEYS) at
    its default counting as absent."""
    if saved == now:
        return True
    try:
        old, new = json.loads(saved), json.loads(now)
    except ValueError:
        return False
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return False
    for (section, key), value in ADDED_KEYS.items():
        part = new.get(section)
        if isinstance(part, dict) and part.get(key) == value and key not in (old.get(section) or {}):
            new[section] = {k: v for k, v in part.items() if k != key}
    return old == new


def refuse_another_run(run_dir: str, saved: str, now: str) -> None:
    """Refuse to go on in a run folder whose run was of another recipe or config (JSON texts)."""
    if not _same_run(saved, now):
        raise PdekitError(f"'{run_dir}' holds a run of another recipe or config ({json_differences(saved, now)}); "
                          f"choose another run folder (--out) or delete this one to start afresh")


def config_read_now(text: str, task_config: type) -> str:
    """A checkpoint's config JSON (its trainer and task settings) with the settings this pdekit
    refuses as of no effect (``pdekit.config.refuse_unused``), which an older one recorded and
    ignored, at their defaults: as the run trained, so it still resumes."""
    from pdekit.config import reset_unused

    try:
        config = json.loads(text)
    except ValueError:
        return text
    for key, cls in (("trainer", TrainConfig), ("task", task_config)):
        part = config.get(key) if isinstance(config, dict) else None
        if isinstance(part, dict) and dataclasses.is_dataclass(cls):
            config[key] = reset_unused(cls, part)
    return json.dumps(config, sort_keys=True)


def json_differences(saved: str, now: str, limit: int = 4) -> str:
    """Where two JSON documents differ, key by key ("train.lr: 0.001 in the saved run, 0.002 now"),
    the first ``limit`` of them: what a user needs to see when a resume is refused."""
    def flat(text: str) -> dict:
        out: dict = {}

        def walk(value, key):
            if isinstance(value, dict) and value:
                for k, v in value.items():
                    walk(v, f"{key}.{k}" if key else str(k))
            else:
                out[key] = value

        try:
            walk(json.loads(text), "")
        except (TypeError, ValueError):
            out[""] = text
        return out

    def written(values: dict, key: str) -> str:
        return json.dumps(values[key]) if key in values else "absent"

    def shown(values: dict, key: str) -> str:  # compared whole, shown cut to 40 characters
        text = written(values, key)
        return text if len(text) <= 40 else text[:37] + "..."

    a, b = flat(saved), flat(now)
    keys = sorted(k for k in a.keys() | b.keys() if written(a, k) != written(b, k))  # as written: 22 is not 22.0
    parts = [f"{key or 'the whole'}: {shown(a, key)} in the saved run, {shown(b, key)} now" for key in keys[:limit]]
    if not parts:
        return "the same keys and values, written differently"
    return "; ".join(parts) + (f"; and {len(keys) - limit} more" if len(keys) > limit else "")


def write_history(path: str, history: list[dict]) -> None:
    """metrics.csv, atomically: one row per logged epoch, columns in order of first appearance."""
    if not history:
        return
    keys = list(dict.fromkeys(k for row in history for k in row))
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, path)


def read_history(path: str, up_to: int) -> list[dict]:
    """The rows of metrics.csv up to epoch ``up_to`` (numbers as floats, the phase as text)."""
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        rows = [{k: (v if k == "phase" else float(v)) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]
    return [row for row in rows if row["epoch"] <= up_to]


def _tensorboard_writer(run_dir: str):
    from torch.utils.tensorboard import SummaryWriter  # TrainConfig checked that tensorboard is installed

    return SummaryWriter(os.path.join(run_dir, "tensorboard"))


class Trainer:
    """Train ``model`` on ``task`` with the settings ``cfg`` (a TrainConfig).

    Parameters
    ----------
    model : any ``nn.Module``; trained in place.
    task : a Task (pdekit.train.SupervisedTask, pdekit.pinn.PinnTask, ...).
    cfg : TrainConfig (see ``make_train_config``).
    run_dir : folder for ``checkpoint.pt`` and ``metrics.csv``; a run killed there resumes when
        trained again with the same setup. None: no files.
    setup : JSON text that names what is trained (a recipe); a checkpoint of another setup is
        refused. Stored as the checkpoint's "recipe".
    meta : plain data stored in the checkpoint (channels, grid, ...) for whoever loads it.
    name : the progress bar's label.
    quiet : no progress bar (and no note about train.amp off CUDA).
    callbacks : functions ``callback(trainer, row)`` called after every logged epoch (where
        distributed training and online data will plug in).
    """

    def __init__(self, model: torch.nn.Module, task: Task, cfg: TrainConfig, run_dir: str | None = None,
                 setup: str = "{}", meta: dict | None = None, name: str = "train", quiet: bool = False,
                 callbacks=()):
        self.model, self.task, self.cfg, self.run_dir = model, task, cfg, run_dir
        self.setup, self.meta, self.name, self.quiet, self.callbacks = setup, meta or {}, name, quiet, list(callbacks)
        self.rank, self.world = distributed()
        self.device = resolve_device(cfg.device)
        if self.world > 1 and self.device.type == "cuda":  # one GPU per process
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        self.config_json = json.dumps({"trainer": dataclasses.asdict(cfg),
                                       "task": dataclasses.asdict(task.config)}, sort_keys=True)
        self.state = {"phase": "adam", "epoch": 0, "optimizer_steps": 0, "lbfgs_iterations": 0, "seconds": 0.0,
                      "phase_seconds": {"adam": 0.0, "lbfgs": 0.0}, "history": [], "stop_reason": "", "threads": 0,
                      "processes": []}
        self.best: dict = {}
        self.saved_at = 0  # the epoch (Adam epochs + L-BFGS iterations) of the checkpoint on disk

    # --- the run -----------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Train: seed torch, set up the task, resume from ``run_dir``'s checkpoint where there is one,
        run the Adam(W) epochs and then the L-BFGS iterations within the time budget, and save the
        final checkpoint.

        Returns
        -------
        TrainResult
            The trained module (with train.keep_best, the weights of the logged epoch of lowest
            validation error), the metrics rows, timings, steps done and why training stopped.

        Raises
        ------
        TrainingDiverged
            If the loss or a validation metric stops being finite (the last good checkpoint is kept).
        PdekitError
            If ``run_dir`` holds a checkpoint of an older pdekit, or of another setup, config or model.
        """
        cfg, model, task = self.cfg, self.model, self.task
        check_processes(task, cfg, self.world)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.state["threads"] = torch.get_num_threads()
        self.state["processes"] = [self.world]
        torch.manual_seed(cfg.seed)
        task.resuming = bool(self.run_dir) and os.path.exists(self._path(CHECKPOINT))
        task.setup(model, cfg, self.device)
        check_training(model, cfg)
        model.to(self.device)  # before the optimizer state is loaded, so a resumed state lands next to the weights
        if self.world > 1:  # every process starts from the first one's weights, as DistributedDataParallel does
            import torch.distributed as dist

            with torch.no_grad():
                for t in (*model.parameters(), *model.buffers()):
                    dist.broadcast(t.data, 0)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.adam = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = self._scheduler()
        self.scaler = _grad_scaler(self.device, cfg.amp)
        self.lbfgs = None
        if self.run_dir:
            check_writable_dir(self.run_dir)  # a file of that name, or no permission: one line, before any work
            if os.path.exists(self._path(CHECKPOINT)):
                self._resume()
                if self.state["stop_reason"] and not self.quiet and self.rank == 0:  # a rerun of a finished run
                    print(f"note: '{self.run_dir}' holds a finished run ({self.state['stop_reason']}); nothing to "
                          f"train: its weights are used as they are (a run in another folder, --out, trains afresh)", file=sys.stderr)
        self.writer = _tensorboard_writer(self.run_dir) if cfg.tensorboard and self.run_dir and self.rank == 0 else None
        self.bar = progress_bar(total=cfg.epochs + cfg.lbfgs_steps, initial=self._steps(), unit="epoch", desc=self.name,
                                disable=self.quiet or self.rank > 0)
        task.attach_progress(lambda text: show_postfix(self.bar, text))
        with self.bar:
            self._adam_phase()
            self._lbfgs_phase()
        st = self.state
        if not st["stop_reason"]:
            st["stop_reason"] = (f"time budget of {cfg.max_seconds:g} s reached" if self._out_of_time()
                                 else f"Adam finished its {cfg.epochs} epochs")
        self._save()  # the final weights and why training stopped, also when the time ran out between rows
        if self.writer is not None:
            self.writer.close()
        epoch = self._steps()
        if "best_model" in self.best:
            model.load_state_dict(self.best["best_model"])
            epoch = int(self.best["best_epoch"])
        return TrainResult(model, st["history"], st["seconds"], dict(st["phase_seconds"]), epoch, self._steps(),
                           st["stop_reason"], self.device, st["threads"], list(st["processes"]))

    def _adam_phase(self) -> None:
        cfg, st, task, model = self.cfg, self.state, self.task, self.model
        use_amp = cfg.amp != "none" and self.device.type == "cuda"
        if cfg.amp != "none" and not use_amp and not self.quiet:
            print(f"note: train.amp={cfg.amp} applies on CUDA only; training in float32 on {self.device}",
                  file=sys.stderr)
        amp_dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
        scaler = self.scaler
        last_row = None
        while st["phase"] == "adam" and st["epoch"] < cfg.epochs and not self._out_of_time():
            started = time.perf_counter()
            epoch = st["epoch"] + 1
            if hasattr(model, "training_stages"):  # models trained in stages (SpecBoost, Spectral-Refiner)
                model.set_stage(stage_of(epoch, cfg.epochs, model.training_stages))
            model.train()
            total, count, parts = 0.0, 0, {}
            for i, batch in enumerate(task.batches(epoch, self._dtype())):
                batch, share = self._my_share(batch)
                if share == 0.0:
                    continue  # a last batch smaller than the number of processes is skipped by all
                with torch.autocast(self.device.type, dtype=amp_dtype) if use_amp else nullcontext():
                    loss, named = task.loss(model, batch, st["optimizer_steps"])
                self._check_finite(float(loss.detach()), f"epoch {epoch}, step {i + 1}")
                self.adam.zero_grad(set_to_none=True)
                # the mean of the processes' gradients is then that of the global batch's mean loss
                scaler.scale(loss * share if share != 1.0 else loss).backward(inputs=self.params)  # (not a PINN's points)
                if self.world > 1:
                    self._average_gradients()
                if cfg.grad_clip:
                    scaler.unscale_(self.adam)
                    torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
                scaler.step(self.adam)
                scaler.update()
                st["optimizer_steps"] += 1
                weight = task.batch_size(batch)
                total += float(loss.detach()) * weight
                count += weight
                for key, value in named.items():
                    parts[key] = parts.get(key, 0.0) + value * weight
            lr = self.adam.param_groups[0]["lr"]
            self.scheduler.step()
            task.after_step(model, epoch)
            st["epoch"] = epoch
            elapsed = time.perf_counter() - started
            if self.world > 1:  # one row for the whole batch, and one time (the slowest) for the budget
                total, count, *values = _all_reduce([total, count, *parts.values()])
                parts = dict(zip(parts, values))
                elapsed = _all_reduce([elapsed], "max")[0]
            st["seconds"] += elapsed
            st["phase_seconds"]["adam"] += elapsed  # kept apart for the Adam speed, also across a resume
            self.bar.update(1)
            if not count:  # every batch had fewer samples than the processes
                raise ConfigError(f"every batch of epoch {epoch} held fewer samples than the {self.world} processes, "
                                  f"which skip such a batch: give at least {self.world} training samples")
            last_row = (total / count, {k: v / count for k, v in parts.items()}, lr)
            if epoch % cfg.log_every == 0 or epoch == cfg.epochs:
                self._log(*last_row)
        if last_row and st["phase"] == "adam" and (not st["history"] or st["history"][-1]["epoch"] != st["epoch"]):
            self._log(*last_row)  # stopped by the time budget between rows: score the weights it ends with
        if st["phase"] == "adam" and st["epoch"] >= cfg.epochs and cfg.lbfgs_steps:
            st["phase"] = "lbfgs"

    def _my_share(self, batch) -> tuple:
        """(this process's share of a global batch, its weight in the batch's mean loss times the
        processes): shares of 5 and 4 samples weigh 10/9 and 8/9, so the mean of the processes'
        weighted losses and gradients is that of the global batch. Weight 0 when some process got
        no sample: all skip the batch. One process: the batch, weight 1."""
        if self.world == 1:
            return batch, 1.0
        batch = self.task.shard(batch, self.rank, self.world)
        mine = self.task.batch_size(batch)
        whole, empty = _all_reduce([mine, float(mine == 0)])
        return batch, 0.0 if empty else mine * self.world / whole

    def _lbfgs_phase(self) -> None:
        cfg, st, task, model = self.cfg, self.state, self.task, self.model
        if st["phase"] != "lbfgs" or st["stop_reason"]:  # not there yet, or already stopped (a finished run)
            return
        dtype = cfg.lbfgs_torch_dtype
        model.to(dtype)
        model.eval()  # one deterministic function for the line search (no dropout), whatever ran last
        if self.lbfgs is None:
            self.lbfgs = make_lbfgs(self.params, cfg.lbfgs_history)
        batch, share = self._my_share(next(iter(task.batches(cfg.epochs + 1, dtype))))
        last = {}

        def closure():
            self.lbfgs.zero_grad(set_to_none=True)
            loss, named = task.loss(model, batch, None)
            (loss * share if share != 1.0 else loss).backward(inputs=self.params)
            if self.world > 1:  # every process takes the same L-BFGS step: the global batch's loss and gradient
                self._average_gradients()
                value, *parts = _all_reduce([share * float(loss.detach()), *(share * v for v in named.values())])
                named = {k: v / self.world for k, v in zip(named, parts)}
                loss = torch.as_tensor(value / self.world, dtype=loss.dtype)
            last["loss"], last["parts"] = float(loss.detach()), named
            return loss

        while True:
            done = st["lbfgs_iterations"]
            if done >= cfg.lbfgs_steps:
                st["stop_reason"] = f"L-BFGS reached its {cfg.lbfgs_steps} iterations"
                return
            if self._out_of_time():
                st["stop_reason"] = f"time budget of {cfg.max_seconds:g} s reached"
                return
            chunk = min(cfg.log_every - done % cfg.log_every, cfg.lbfgs_steps - done)  # rows at multiples of log_every
            if cfg.max_seconds and not last.get("per_iteration"):
                chunk = 1  # one iteration timed first (a row of its own), so no chunk runs past the budget
            elif cfg.max_seconds:  # end the last chunk inside the time budget (chunks do not change the path)
                chunk = max(1, min(chunk, int((cfg.max_seconds - st["seconds"]) / last["per_iteration"])))
            started = time.perf_counter()
            ran, reason = lbfgs_chunk(self.lbfgs, closure, chunk)
            elapsed = time.perf_counter() - started
            if self.world > 1:  # one time (the slowest) for the budget, so every process stops together
                elapsed = _all_reduce([elapsed], "max")[0]
            st["seconds"] += elapsed
            st["phase_seconds"]["lbfgs"] += elapsed
            last["per_iteration"] = elapsed / max(ran, 1)
            st["lbfgs_iterations"] = done + ran
            self._check_finite(last["loss"], f"L-BFGS iteration {done + ran}")
            self.bar.update(ran)
            self._log(last["loss"], last["parts"], self.lbfgs.param_groups[0]["lr"])
            if reason:
                st["stop_reason"] = reason
                return

    # --- rows, checkpoints, resume -----------------------------------------------------------
    def _log(self, train_loss: float, parts: dict, lr: float) -> None:
        """One metrics row (validation included), TensorBoard, the best weights, a checkpoint."""
        st = self.state
        was_training = self.model.training
        metrics = self.task.validate(self.model)
        self.model.train(was_training)
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:  # before anything is written: the last good checkpoint stays
            raise TrainingDiverged(f"the validation metric {bad[0]} became {metrics[bad[0]]} at epoch {self._steps()}; "
                                   f"the last good checkpoint (epoch {self.saved_at}) is kept: lower train.lr")
        row = {"phase": st["phase"], "epoch": self._steps(), "train_loss": train_loss, **parts, **metrics, "lr": lr,
               "seconds": round(st["seconds"], 3)}
        st["history"].append(row)
        key = self.task.selection_metric
        if self.cfg.keep_best and key in metrics and metrics[key] < self.best.get("best_value", math.inf):
            self.best = {"best_model": {k: v.detach().clone().cpu() for k, v in self.model.state_dict().items()},
                         "best_epoch": row["epoch"], "best_value": metrics[key]}
        if self.writer is not None:
            for k, v in row.items():
                if k not in ("phase", "epoch"):
                    self.writer.add_scalar(k, v, row["epoch"])
            self.writer.flush()
        self._save()
        shown = {"loss": f"{train_loss:.4g}", **{k: f"{v:.4g}" for k, v in metrics.items()}}
        show_postfix(self.bar, shown)
        for callback in self.callbacks:
            callback(self, row)

    def _average_gradients(self) -> None:
        """The mean of the processes' gradients, in every process (what DistributedDataParallel
        computes; done here so that any task's way of calling the model works)."""
        import torch.distributed as dist

        for p in self.params:
            if p.grad is not None:
                grad = torch.view_as_real(p.grad) if p.grad.is_complex() else p.grad
                dist.all_reduce(grad)
                grad.div_(self.world)

    def _save(self) -> None:
        if not self.run_dir:
            return
        task_state = self.task.state_dict()  # in every process: a task may gather the processes' states
        if self.rank > 0:  # one process writes
            return
        self.saved_at = self._steps()
        st = self.state
        optimizer = self.lbfgs if st["phase"] == "lbfgs" else self.adam
        save_checkpoint(self._path(CHECKPOINT), {
            **self.meta, **task_state, **self.best,
            "format": FORMAT, "recipe": self.setup, "config": self.config_json,
            "model": self.model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "phase": st["phase"], "epoch": st["epoch"],
            "lbfgs_iterations": st["lbfgs_iterations"], "optimizer_steps": st["optimizer_steps"], "seconds": st["seconds"],
            "phase_seconds": json.dumps(st["phase_seconds"]), "stop_reason": st["stop_reason"],
            "history": json.dumps(st["history"]), "rng": torch.get_rng_state(),
            "params": count_parameters(self.model), "threads": st["threads"],
            "processes": json.dumps(st["processes"]),
        })
        write_history(self._path(METRICS_CSV), st["history"])

    def _resume(self) -> None:
        path = self._path(CHECKPOINT)
        saved = load_checkpoint(path)
        if saved.get("format") != FORMAT:
            raise DataFileError(f"'{path}' was written by an older pdekit, whose runs this one cannot resume; "
                                f"train again in another run folder (--out), or delete this one")
        refuse_another_run(self.run_dir, saved["recipe"], self.setup)
        refuse_another_run(self.run_dir, config_read_now(saved["config"], type(self.task.config)), self.config_json)
        check_checkpoint_model(saved, self.model, path)
        revision = saved.get("grid_revision", 1)
        changed = [type(m).__name__ for m in self.model.modules() if getattr(type(m), "grid_revision", 1) > revision
                   and not (hasattr(m, "same_since") and m.same_since(revision))]
        if changed:  # its weights were trained reading the data's grid otherwise
            raise DataFileError(f"'{path}' was trained by an older pdekit whose {changed[0]} read the data's grid "
                                f"differently; train again in another run folder (--out), or delete this one")
        if "grid" in saved and "grid" in self.meta and saved["grid"] != self.meta["grid"]:
            raise DataFileError(f"'{path}' was trained on a {saved['grid']} grid, and the data's is {self.meta['grid']} "
                                f"now (data.grid): train again in another run folder (--out), or delete this one")
        key = "data_fingerprint"  # (a run from before it was recorded: unchecked)
        if key in saved and key in self.meta and saved[key] != self.meta[key]:
            raise DataFileError(f"'{path}' was trained on other data than the file holds now (data.file was rewritten "
                                f"since): train again in another run folder (--out), or delete this one")
        if saved["phase"] == "lbfgs":  # the weights are in L-BFGS precision from then on
            self.model.to(self.cfg.lbfgs_torch_dtype)
            self.model.load_state_dict(saved["model"])
            self.lbfgs = make_lbfgs(self.params, self.cfg.lbfgs_history)
            self.lbfgs.load_state_dict(saved["optimizer"])
        else:
            self.model.load_state_dict(saved["model"])
            self.adam.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        if saved.get("scaler"):
            self.scaler.load_state_dict(saved["scaler"])
        self.task.load_state_dict(saved)
        torch.set_rng_state(saved["rng"])
        self.state.update(phase=saved["phase"], epoch=int(saved["epoch"]), lbfgs_iterations=int(saved["lbfgs_iterations"]),
                          optimizer_steps=int(saved["optimizer_steps"]),
                          seconds=float(saved["seconds"]), phase_seconds=json.loads(saved["phase_seconds"]),
                          history=json.loads(saved["history"]), stop_reason=saved["stop_reason"],
                          threads=int(saved.get("threads", 0)) if saved["stop_reason"] else self.state["threads"],
                          processes=self._processes(recorded_processes(saved) if "processes" in saved else None,
                                                    saved["stop_reason"]))
        self.saved_at = self._steps()
        self.best = {k: saved[k] for k in ("best_model", "best_epoch", "best_value") if k in saved}

    # --- helpers -----------------------------------------------------------------------------
    def _processes(self, before: list | None, finished: str) -> list:
        """The process counts of the sessions that trained a resumed run, this one's added unless it
        trains no further (a finished run); [] for a run from before they were recorded (None)."""
        if before is None:
            return []
        if finished or (before and before[-1] == self.world):
            return before
        if not self.quiet and self.rank == 0:
            print(f"note: '{self.run_dir}' was trained by {before[-1]} process(es) so far and goes on with "
                  f"{self.world}: its remaining epochs differ from an unbroken run's in round-off", file=sys.stderr)
        return [*before, self.world]

    def _scheduler(self):
        cfg = self.cfg
        stages = getattr(self.model, "training_stages", 1)
        if cfg.scheduler == "cosine" and stages != 1:  # one cosine per stage
            return torch.optim.lr_scheduler.LambdaLR(self.adam, lambda e: staged_cosine(e, cfg.epochs, stages))
        if cfg.scheduler == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.adam, T_max=max(cfg.epochs, 1))
        if cfg.scheduler == "step":
            return torch.optim.lr_scheduler.StepLR(self.adam, step_size=cfg.step_size, gamma=cfg.gamma)
        return torch.optim.lr_scheduler.LambdaLR(self.adam, lambda _: 1.0)

    def _path(self, name: str) -> str:
        return os.path.join(self.run_dir, name)

    def _steps(self) -> int:
        return self.state["epoch"] + self.state["lbfgs_iterations"]

    def _dtype(self) -> torch.dtype:
        return next(iter(self.model.parameters())).dtype

    def _out_of_time(self) -> bool:
        return bool(self.cfg.max_seconds) and self.state["seconds"] >= self.cfg.max_seconds

    def _check_finite(self, loss: float, where: str) -> None:
        if self.world > 1:  # every process stops together, or none
            loss = loss if _all_reduce([float(math.isfinite(loss))], "min")[0] else math.nan
        if not math.isfinite(loss):
            kept = f" in {self.run_dir}" if self.run_dir else ""
            raise TrainingDiverged(f"the loss became {loss} at {where}; the last good checkpoint (epoch "
                                   f"{self.saved_at}) is kept{kept}: lower train.lr (now {self.cfg.lr:g}) or "
                                   f"set train.grad_clip")

