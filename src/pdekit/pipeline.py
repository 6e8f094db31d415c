"""From a recipe to a run folder: generate (or reuse) the data, train, evaluate, report. What a
recipe's kind does is one runner (``RUNNERS``): the operator runner here, the PINN runner in
pdekit.pinn.run."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import sys

import torch

from pdekit import __version__
from pdekit.data.dataset import Split
from pdekit.data.generate import generate
from pdekit.data.storage import canonical, dataset_identity
from pdekit.errors import DataFileError, PdekitError
from pdekit.models.registry import GRID_REVISION, as_trained
from pdekit.paths import check_writable_dir, check_writable_file, write_json
from pdekit.recipes import Recipe
from pdekit.train.trainer import Trainer, distributed, history_row, resolve_device


def data_dir() -> str:
    """Where generated datasets are cached: $PDEKIT_DATA, else ~/.cache/pdekit/data."""
    return os.environ.get("PDEKIT_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "pdekit", "data")


def dataset_file(problem, n: int, seed: int, first: int, device: str = "cpu") -> str:
    """Cache path named by the hash of everything the bytes depend on (the dataset's identity, the
    pdekit version and the device type, whose FFTs and linear solvers round differently), so equal
    data is generated once and changed code never reuses old bytes."""
    key = {**dataset_identity(problem, n, seed, first), "pdekit": __version__, "device": torch.device(device).type}
    digest = hashlib.sha256(canonical(key).encode()).hexdigest()[:12]
    return os.path.join(data_dir(), f"{problem.name}-r{problem.resolution}-{first}-{first + n}-{digest}.h5")


def split_ranges(data) -> dict[str, tuple[int, int]]:
    """(first index, count) of each split: train, then validation, then test, disjoint ranges of
    one stream of samples."""
    n_val = data.validation_count
    return {"train": (0, data.n_train), "val": (data.n_train, n_val), "test": (data.n_train + n_val, data.n_test)}


def prepare_data(recipe: Recipe, quiet: bool = False, device: str = "cpu", evaluation: bool = False,
                 splits: tuple[str, ...] | None = None) -> dict:
    """Files (or splits of a user's file) for train, val and test, one test file per transfer
    resolution (the same test samples, stored finer) and, with eval.held_out, the test samples under
    those parameters; ``evaluation``: the test-side files only (an evaluation never needs the
    training data, which an empty cache would otherwise solve again); ``splits``: these splits
    only, no transfer or held-out files."""
    d = recipe.data
    ranges = split_ranges(d)
    if evaluation:
        ranges = {"test": ranges["test"]}
    if splits:
        ranges = {k: ranges[k] for k in splits}
    if d.file:  # a file given by the user, in any layout: nothing to generate
        files = {split: Split(d.file, first, n) for split, (first, n) in ranges.items()}
        if d.test_file:
            files["test"] = Split(d.test_file, 0, d.n_test)
        return {**files, "transfer": {}}
    shard = distributed()  # under torchrun each process solves its share; all wait for the files below

    def generated(problem, first: int, n: int, label: str) -> str:
        path = dataset_file(problem, n, d.seed, first, device)
        generate(problem, n, d.seed, path, batch_size=d.batch_size, device=device, quiet=quiet, first=first,
                 shard=shard, label=label)
        return path

    problem = recipe.data_problem()
    files = {split: generated(problem, first, n, {"val": "validation"}.get(split, split))
             for split, (first, n) in ranges.items()
             if not (split == "train" and d.source == "online")}  # online: solved while training, never stored
    if splits:
        return {**files, "transfer": {}}
    test = ranges["test"]
    if recipe.eval.held_out:  # the test samples' indices under other parameters
        files["held_out"] = generated(recipe.data_problem(params=recipe.eval.held_out), *test, "test, held-out parameters")
    files["transfer"] = {r: generated(recipe.data_problem(r), *test, f"test at {r}") for r in recipe.eval.resolutions}
    if shard[1] > 1:
        import torch.distributed as dist

        dist.barrier()  # the last shard of each file has assembled it
    return files


def physics_loss(recipe: Recipe):
    """PINO's physics loss: the mean square of the problem's own residual (the solver's
    discretization) on the predicted grid: a steady problem's inputs to fields, or a time-dependent
    problem's whole trajectory (plus the misfit of its initial slice)."""
    problem = recipe.data_problem()
    given = recipe.data.input_time  # the input is the trajectory's slice at this time index

    def loss(pred: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        fields = {name: pred[:, i] for i, name in enumerate(problem.fields)}
        if problem.time_dependent:  # a trajectory (batch, c, nt, *space) through its given slice
            initial = (pred[:, :, given] - x[:, :, 0]).pow(2).mean()
            return problem.residual(fields).pow(2).mean() + initial
        inputs = {name: x[:, i] for i, name in enumerate(problem.inputs)}
        return problem.residual(fields, inputs).pow(2).mean()

    return loss


def train_source(recipe: Recipe, files: dict):
    """The training pairs as the recipe's ``data.source`` asks: loaded, streamed or solved online."""
    from pdekit.data.dataset import PairTask, load_task
    from pdekit.data.sources import MemoryPairs, StreamedPairs

    d = recipe.data
    if d.source == "memory":
        return MemoryPairs(*load_task(files["train"], d)[:2])
    if d.source == "stream":
        return StreamedPairs(files["train"], PairTask.of(d), d.buffer)
    from pdekit.data.online import OnlinePairs

    rank, world = distributed()
    return OnlinePairs(recipe.data_problem(), d.seed, d.n_train, d.validation_count + d.n_test, recipe.train.batch_size,
                       PairTask.of(d), d.buffer, d.buffer_policy, d.watermark,
                       d.workers, d.reuse, d.batch_size, rank=rank, world=world)


def train_operator(recipe: Recipe, run_dir: str, train, x_val, y_val, quiet: bool = False):
    """Train the recipe's model on the pairs of ``train`` (a PairSource) with the supervised task;
    the validation pairs are scored after every epoch (metrics.csv) and, with train.keep_best,
    choose the weights kept. The test split is never seen here."""
    from pdekit.models import build_model
    from pdekit.train.supervised import SupervisedTask

    torch.manual_seed(recipe.train.seed)  # before the model is built: its initialization is part of the run
    grid = recipe.data.resolved_grid()
    model = build_model(recipe.model, *train.channels, train.ndim, grid)
    physics = physics_loss(recipe) if recipe.task.physics_weight > 0 else None
    augmentation = None
    if recipe.task.augment:
        from pdekit.data.symmetry import problem_augmentation

        augmentation = problem_augmentation(recipe.data_problem(), recipe.data, recipe.task.augment_boost,
                                            recipe.task.augment_warp)
    task = SupervisedTask(train, (x_val, y_val), recipe.task, physics, augmentation=augmentation, grid=grid)
    meta = {"model_name": recipe.model["name"], "grid": grid, "grid_revision": GRID_REVISION, **_file_identity(recipe, task)}
    trainer = Trainer(model, task, recipe.train, run_dir, run_setup(run_dir, recipe), meta, name=recipe.name, quiet=quiet)
    try:
        return task.result(trainer.fit())
    finally:
        train.close()


def train_recipe(recipe: Recipe, run_dir: str, quiet: bool = False):
    """Generate (or reuse) the data and train; returns (trained model, data files).

    The run folder gets recipe.json, checkpoint.pt and metrics.csv; a run killed there resumes.

    Parameters
    ----------
    recipe : Recipe
        An operator recipe.
    run_dir : str
        The run folder (created; a folder of other files is refused).
    quiet : bool
        No progress bars.

    Returns
    -------
    trained : TrainedModel
        The trained model with its normalizers and metrics history.
    files : dict
        The data: ``"train"`` (absent with data.source=online), ``"val"`` and ``"test"`` (cached
        files or Splits of ``data.file``) and ``"transfer"`` (``{resolution: file}``).
    """
    from pdekit.data.dataset import load_task

    prepare_run_dir(run_dir, recipe)  # a bad --out fails before any data is generated
    files = prepare_data(recipe, quiet=quiet, device=resolve_device(recipe.train.device).type)
    x_val, y_val, _ = load_task(files["val"], recipe.data)
    train = train_source(recipe, files)
    with recipe_recorded(run_dir, recipe):
        return train_operator(recipe, run_dir, train, x_val, y_val, quiet=quiet), files


def default_run_dir(recipe, overrides: list[str] | None = None) -> str:
    """runs/<name>, with a short hash of the command line's overrides when there are any, so a run
    with other settings never lands in (and is refused by) the folder of the plain recipe."""
    if not overrides:
        return os.path.join("runs", recipe.name)
    digest = hashlib.sha256("\n".join(sorted(overrides)).encode()).hexdigest()[:8]
    return os.path.join("runs", f"{recipe.name}-{digest}")


def _file_identity(recipe: Recipe, task) -> dict:
    """A user's data file's digest (the task's fingerprint), for the checkpoint: the recipe names the
    file only, so a file rewritten since would resume, or score, the old run on other data.
    Generated data are the recipe's own (and solved again, to round-off alike, on another device)."""
    return {"data_fingerprint": task.fingerprint()} if recipe.data.file else {}


def as_read_now(text: str) -> str:
    """A run's recorded recipe (JSON text) as this pdekit reads it (``load_saved_recipe``: keys an
    older pdekit accepted and ignored, refused since, at their defaults); the text itself where it
    does not read as a recipe."""
    from pdekit.recipes import load_saved_recipe

    try:
        return load_saved_recipe(json.loads(text)).to_json()
    except (PdekitError, ValueError, TypeError, AttributeError):
        return text


def run_setup(run_dir: str, recipe: Recipe) -> str:
    """The recipe's JSON for the Trainer, which resumes only a checkpoint of the same text: the
    checkpoint's own text where it records this recipe as an older pdekit wrote it (with a key
    refused since), so an unfinished run of before still resumes."""
    from pdekit.train.checkpoint import load_checkpoint

    now, path = recipe.to_json(), os.path.join(run_dir, "checkpoint.pt")
    if not os.path.exists(path):
        return now
    saved = load_checkpoint(path, mmap=True).get("recipe")  # (the recipe's text only: the tensors stay on disk)
    return saved if isinstance(saved, str) and saved != now and as_read_now(saved) == now else now


def refuse_rewritten_file(run_dir: str, recipe: Recipe, state: dict, task_of) -> None:
    """Before a run is scored on its own test split of ``data.file``: refuse a file rewritten since the
    run trained (its digest, ``_file_identity``'s, in the checkpoint ``state`` differs), whose test
    split may hold the samples it trained on. ``task_of(files)``: the run's task of those splits."""
    key = "data_fingerprint"  # (a run from before it was recorded: unchecked; with data.test_file the
    # test samples are that file's, held out whatever data.file holds now)
    if not recipe.data.file or recipe.data.test_file or key not in state:
        return
    if task_of(prepare_data(recipe, splits=("train", "val"))).fingerprint() != state[key]:
        raise DataFileError(f"'{run_dir}' was trained on other data than '{recipe.data.file}' gives now (rewritten "
                            f"since, or read otherwise by this pdekit), so its test split is no longer the one held "
                            f"out: evaluate it on a file by --data, or train again")


def prepare_run_dir(run_dir: str, recipe: Recipe | None = None, processes: int | None = None) -> None:
    """Check the run folder can be made, refusing one that is neither new, empty nor a run folder (so a
    mistyped --out never fills, or is suggested for deletion, a folder of the user's), or (given
    ``recipe``) a run of another recipe or an online run of another process count than ``processes``
    (default: this run's), before any data is made (the folder itself is made when the run first
    writes into it). Under torchrun the first process checks; the others wait for it."""
    rank, world = distributed()
    if rank == 0:
        if os.path.isdir(run_dir) and os.listdir(run_dir):
            markers = ("recipe.json", "checkpoint.pt", "metrics.csv", "metrics.json")
            if not any(os.path.exists(os.path.join(run_dir, m)) for m in markers):
                raise PdekitError(f"'{run_dir}' is a folder that holds other files and no pdekit run; choose another "
                                  f"--out")
            saved = os.path.join(run_dir, "recipe.json")
            if recipe is not None and os.path.exists(saved):
                from pdekit.train.trainer import refuse_another_run

                try:
                    with open(saved) as fh:
                        text = json.dumps(json.load(fh), sort_keys=True)
                except ValueError as exc:  # (written whole since; a kill could cut the file short before)
                    raise PdekitError(f"'{saved}' is not a readable recipe ({exc}); the run it records cannot be "
                                      f"checked: choose another --out or delete the folder to start afresh") from None
                refuse_another_run(run_dir, as_read_now(text), recipe.to_json())
            if recipe is not None and recipe.kind == "operator" and recipe.data.source == "online":
                _refuse_other_processes(run_dir, world if processes is None else processes)
        check_writable_dir(run_dir, keep=False)  # made when the run writes: a refused one leaves no folder
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def _refuse_other_processes(run_dir: str, processes: int) -> None:
    """An online run resumes with the process count that trained it: its checkpoint holds each
    process's buffer and stream position."""
    from pdekit.train.checkpoint import load_checkpoint

    path = os.path.join(run_dir, "checkpoint.pt")
    state = load_checkpoint(path, mmap=True) if os.path.exists(path) else {}
    if "online_state" in state and (before := len(json.loads(state["online_state"]))) != processes:
        how = "without --nproc" if before == 1 else f"with --nproc {before}"
        raise PdekitError(f"'{run_dir}' holds an online run trained by {before} process(es), whose buffers are per "
                          f"process: resume it {how}, or train afresh in another run folder (--out)")


@contextlib.contextmanager
def recipe_recorded(run_dir: str, recipe: Recipe):
    """recipe.json, the resolved recipe of the run (by the first process only, under torchrun), for
    the training within; a setting the training refuses, or a Ctrl-C, before its first checkpoint
    takes a new one back, so a corrected command may use the same folder."""
    path = os.path.join(run_dir, "recipe.json")
    first = distributed()[0] == 0
    new = first and not os.path.exists(path)
    made = first and not os.path.isdir(run_dir)  # a folder the user made stays, empty or not
    if first:
        os.makedirs(run_dir, exist_ok=True)
        write_json(path, recipe.raw)  # (renamed into place: a kill never leaves half a recipe)
    try:
        yield
    except (PdekitError, KeyboardInterrupt):
        if new and not os.path.exists(os.path.join(run_dir, "checkpoint.pt")):
            if made:  # everything in it is this run's (a tensorboard/ folder, say): a rerun must find no folder
                shutil.rmtree(run_dir, ignore_errors=True)
            else:
                os.remove(path)
        raise


def write_record(run_dir: str, recipe, trained, results: dict, arrays) -> None:
    """The run's record: metrics.json and report.md with its plots."""
    from pdekit.eval.report import write_report

    write_json(os.path.join(run_dir, "metrics.json"), results)
    write_report(run_dir, recipe, trained, results, *arrays)


def evaluation_data_device(recipe: Recipe) -> str:
    """Where ``pdekit eval`` solves test data its cache lacks: the training device where this machine
    has it, else the CPU (a run trained on a GPU is evaluated on a machine without one; the model
    is evaluated on the CPU either way)."""
    wanted = recipe.train.device
    return "cuda" if wanted in ("auto", "cuda") and torch.cuda.is_available() else "cpu"


class OperatorRunner:
    """Operator recipes: data, training, evaluation against the solver, report."""

    @staticmethod
    def train(recipe: Recipe, run_dir: str, quiet: bool = False) -> str:
        trained, _ = train_recipe(recipe, run_dir, quiet=quiet)
        return (f"trained {recipe.name}: validation relative L2 {trained.row()['val_rel_l2']:.4g} at epoch "
                f"{trained.epoch} of {trained.history[-1]['epoch']}; checkpoint in {run_dir} (`pdekit eval {run_dir}` "
                f"scores the test split)")

    @staticmethod
    def run(recipe: Recipe, run_dir: str, quiet: bool = False) -> dict:
        from pdekit.eval.evaluate import evaluate

        trained, files = train_recipe(recipe, run_dir, quiet=quiet)
        if distributed()[0] > 0:  # under torchrun the first process evaluates and writes the record
            return {}
        results, arrays = evaluate(trained, recipe, files["test"], files["transfer"], held_out_file=files.get("held_out"))
        write_record(run_dir, recipe, trained, results, arrays)
        return results

    @staticmethod
    def evaluate(run_dir: str, recipe: Recipe, data: str | None, json_out: str | None, report_dir: str | None,
                 device: str = "cpu", quiet: bool = False) -> dict:
        from pdekit.data.dataset import load_task
        from pdekit.eval.evaluate import evaluate
        from pdekit.eval.report import write_report
        from pdekit.train.supervised import SupervisedTask, load_trained

        trained, state = load_trained(run_dir, device)
        if data is None:
            refuse_rewritten_file(run_dir, recipe, state, lambda files: SupervisedTask(
                train_source(recipe, files), load_task(files["val"], recipe.data)[:2]))
            files = prepare_data(recipe, quiet=quiet, device=evaluation_data_device(recipe), evaluation=True)
            test, transfer, held_out = files["test"], files["transfer"], files.get("held_out")
        else:
            notes = _check_foreign_data(recipe, state, trained, data)
            test, transfer, held_out = data, {}, None
        results, arrays = evaluate(trained, recipe, test, transfer, held_out_file=held_out)
        if data is not None:
            results.update({"data_file": data, "data_notes": notes})
        if json_out:
            write_json(json_out, results)
        if report_dir:
            write_report(report_dir, recipe, trained, results, *arrays)
        return results


class PinnRunner:
    """PINN recipes: training and evaluation against the reference are one step."""

    @staticmethod
    def train(recipe: Recipe, run_dir: str, quiet: bool = False) -> dict:
        return PinnRunner.run(recipe, run_dir, quiet)

    @staticmethod
    def run(recipe: Recipe, run_dir: str, quiet: bool = False) -> dict:
        from pdekit.pinn.run import train_pinn_recipe, write_pinn_record

        prepare_run_dir(run_dir, recipe)
        with recipe_recorded(run_dir, recipe):
            bench, result = train_pinn_recipe(recipe, run_dir, quiet, run_setup(run_dir, recipe))
        return write_pinn_record(recipe, run_dir, bench, result)

    @staticmethod
    def evaluate(run_dir: str, recipe: Recipe, data: str | None, json_out: str | None, report_dir: str | None,
                 device: str = "cpu", quiet: bool = False) -> dict:
        from pdekit.pinn.run import evaluate_pinn_run  # scored against its reference on the CPU (no timing)

        if data is not None:
            raise PdekitError("--data applies to operator runs; a PINN run is scored against its reference solution")
        return evaluate_pinn_run(run_dir, json_out, report_dir)


class RolloutRunner:
    """Rollout recipes: trajectories, the rollout task, rollouts of the test trajectories, report."""

    @staticmethod
    def _model(recipe: Recipe, channels: int, ndim: int, dt: float, cond_log=(), state: dict | None = None):
        """The rollout model; for a checkpoint (``state``), on the grid it was trained on."""
        from pdekit.recipes.rollout import rollout_model

        config, grid = recipe.model, recipe.data.resolved_grid()
        if state is not None:  # (a file's grid was nodes before data.grid: unrecorded there)
            grid = state.get("grid", "nodes" if recipe.data.file else grid)
            config, grid = as_trained(config, grid, state)
        return rollout_model(config, recipe.rollout, channels, ndim, dt, tuple(cond_log), grid)

    @staticmethod
    def _cond(recipe: Recipe, meta: dict):
        """The per-sample parameters of loaded trajectories (n, p), sorted by name, as the model is
        conditioned on them (None without conditioning), and the model's ``cond_log``."""
        from pdekit.recipes.rollout import conditioning_scalars

        cond_log = conditioning_scalars(recipe.rollout, meta["problem"], meta["params"])
        if not cond_log:
            return None, ()
        return torch.stack([torch.from_numpy(meta["params"][k]) for k in sorted(meta["params"])], dim=1), cond_log

    @staticmethod
    def _task(recipe: Recipe, files: dict):
        """The rollout task of the training and validation trajectories of ``files``; (task, channels,
        ndim, dt, cond_log)."""
        from pdekit.data.trajectories import load_trajectories, time_step, windows
        from pdekit.train.rollout import RolloutTask

        r = recipe.rollout
        u_train, t, meta_train = load_trajectories(files["train"])
        dt = time_step(t[r.start :], getattr(files["train"], "path", files["train"]))  # (a Split of a user's file)
        u_val, _, meta_val = load_trajectories(files["val"])
        u_train, u_val = u_train[:, r.start :], u_val[:, r.start :]
        horizon = r.test_steps or u_val.shape[1] - r.history  # validation rolls out as far as the test does
        groups = []
        for u, meta, steps, stride in ((u_train, meta_train, r.steps, r.stride), (u_val[:, : r.history + horizon],
                                                                                  meta_val, horizon, 1)):
            x, y = windows(u, r.history, steps, stride)
            cond, cond_log = RolloutRunner._cond(recipe, meta)  # each trajectory's parameters for its windows
            groups.append((x, y) if cond is None else (x, y, cond.repeat_interleave(len(x) // len(u), dim=0)))
        problem = None if recipe.data.file else recipe.data_problem()  # its period and grids, for train.augment
        task = RolloutTask(*groups, recipe.task, period=None if problem is None else problem.length,
                           whole_cells=problem is not None and problem.solve_resolution > problem.resolution)
        return task, u_train.shape[2], u_train.ndim - 3, dt, cond_log

    @staticmethod
    def _train(recipe: Recipe, run_dir: str, quiet: bool):
        prepare_run_dir(run_dir, recipe)
        files = prepare_data(recipe, quiet=quiet, device=resolve_device(recipe.train.device).type)
        task, channels, ndim, dt, cond_log = RolloutRunner._task(recipe, files)
        torch.manual_seed(recipe.train.seed)  # before the model is built: its initialization is part of the run
        model = RolloutRunner._model(recipe, channels, ndim, dt, cond_log)
        meta = {"channels": channels, "ndim": ndim, "dt": dt, "cond_log": list(cond_log), "grid": recipe.data.resolved_grid(),
                "grid_revision": GRID_REVISION, **_file_identity(recipe, task)}
        with recipe_recorded(run_dir, recipe):
            trained = Trainer(model, task, recipe.train, run_dir, run_setup(run_dir, recipe), meta, name=recipe.name,
                              quiet=quiet).fit()
        return trained, files

    @staticmethod
    def train(recipe: Recipe, run_dir: str, quiet: bool = False) -> str:
        trained, _ = RolloutRunner._train(recipe, run_dir, quiet)
        val = history_row(trained.history, trained.epoch).get("val_rollout_rel_l2", float("nan"))
        return (f"trained {recipe.name}: validation rollout relative L2 {val:.4g} "
                f"at epoch {trained.epoch}; checkpoint in {run_dir} (`pdekit eval {run_dir}` rolls out the test "
                f"trajectories)")

    @staticmethod
    def _score(recipe: Recipe, model, test_file, history: list, seconds: float, device,
               weights_epoch: int, processes: list) -> tuple[dict, tuple]:
        from pdekit.data.trajectories import load_trajectories
        from pdekit.eval.rollout_report import evaluate_rollout
        from pdekit.models.registry import count_parameters

        r = recipe.rollout
        u, t, meta = load_trajectories(test_file)
        u, t = u[:, r.start :], t[r.start :]
        cond, _ = RolloutRunner._cond(recipe, meta)
        steps = r.test_steps or u.shape[1] - r.history
        problem = None if recipe.data.file else recipe.data_problem()  # no solver for a user's file
        if callable(getattr(model.net, "reset", None)):  # counters (a neural ODE's evaluations) cover the test only
            model.net.reset()
        metrics, pred, true, times = evaluate_rollout(model, u, t, r.history, steps, stability_steps=10 * steps,
                                                      problem=problem, cond=cond)
        if recipe.eval.solver_ladder and problem is not None:  # the solver from the same states, matched accuracy
            from pdekit.eval.rollout_solver import compare_rollout_with_solver

            k = min(recipe.eval.timing_samples, len(u))
            metrics.update(compare_rollout_with_solver(model, problem, u[:k, : r.history],
                                                       t[r.history - 1 : r.history + steps],
                                                       u[:k, r.history : r.history + steps], recipe.eval.timing_rounds,
                                                       params={k_: v[:k] for k_, v in meta["params"].items()},
                                                       cond=None if cond is None else cond[:k]))
        if callable(getattr(model.net, "report", None)):  # what a network says about itself (a learned stencil)
            metrics.update(model.net.report(model))
        val = history_row(history, weights_epoch).get("val_rollout_rel_l2")
        metrics.update({"final_rel_l2": metrics["rollout_rel_l2"][-1], "val_rollout_rel_l2": val, "weights_epoch": weights_epoch,
                        "train_seconds": seconds, "train_processes": processes or None,
                        "params": count_parameters(model), "recipe": recipe.name,
                        "device": torch.device(device).type, "test_samples": len(u), "dt": float(t[1] - t[0])})
        return metrics, (pred, true, times)

    @staticmethod
    def _write(folder: str, recipe: Recipe, metrics: dict, arrays, history, npz: bool) -> None:
        import numpy as np

        from pdekit.eval.rollout_report import write_rollout_report

        os.makedirs(folder, exist_ok=True)
        pred, true, times = arrays
        write_json(os.path.join(folder, "metrics.json"), metrics)
        if npz:
            np.savez(os.path.join(folder, "rollout.npz"), pred=pred.numpy(), true=true.numpy(), t=times)
        write_rollout_report(folder, recipe, metrics, pred, true, times, history)

    @staticmethod
    def run(recipe: Recipe, run_dir: str, quiet: bool = False) -> dict:
        trained, files = RolloutRunner._train(recipe, run_dir, quiet)
        if distributed()[0] > 0:  # under torchrun the first process evaluates and writes the record
            return {}
        metrics, arrays = RolloutRunner._score(recipe, trained.model, files["test"], trained.history, trained.seconds,
                                               trained.device, trained.epoch, trained.processes)
        RolloutRunner._write(run_dir, recipe, metrics, arrays, trained.history, npz=True)
        return metrics

    @staticmethod
    def evaluate(run_dir: str, recipe: Recipe, data: str | None, json_out: str | None, report_dir: str | None,
                 device: str = "cpu", quiet: bool = False) -> dict:
        from pdekit.train.checkpoint import load_checkpoint, recorded_processes
        from pdekit.train.trainer import check_checkpoint_model

        if data is not None:
            raise PdekitError("--data is not supported for rollout runs yet; they are scored on their own test split")
        path = os.path.join(run_dir, "checkpoint.pt")
        state = load_checkpoint(path)
        model = RolloutRunner._model(recipe, state["channels"], state["ndim"], state["dt"], state.get("cond_log", ()),
                                     state)
        check_checkpoint_model(state, model, path)
        if state["phase"] == "lbfgs":  # as the run scored it: in L-BFGS precision from then on
            model.to(recipe.train.lbfgs_torch_dtype)
        model.load_state_dict(state["best_model" if "best_model" in state else "model"])
        model.to(device)
        refuse_rewritten_file(run_dir, recipe, state, lambda files: RolloutRunner._task(recipe, files)[0])
        files = prepare_data(recipe, quiet=quiet, device=evaluation_data_device(recipe), evaluation=True)
        history = json.loads(state["history"])
        epoch = int(state.get("best_epoch", int(state["epoch"]) + int(state["lbfgs_iterations"])))
        metrics, arrays = RolloutRunner._score(recipe, model, files["test"], history, float(state["seconds"]), device,
                                               epoch, recorded_processes(state))
        if json_out:
            write_json(json_out, metrics)
        if report_dir:
            RolloutRunner._write(report_dir, recipe, metrics, arrays, history, npz=False)
        return metrics


RUNNERS = {"operator": OperatorRunner, "pinn": PinnRunner, "rollout": RolloutRunner}


def run_recipe(recipe: Recipe, run_dir: str, quiet: bool = False) -> dict:
    """Data, training, evaluation and report: the whole of `pdekit run`.

    Parameters
    ----------
    recipe : Recipe
        A validated recipe of any kind (``load_recipe``).
    run_dir : str
        The run folder: checkpoint, metrics.csv, metrics.json, report.md and plots.
    quiet : bool
        No progress bars.

    Returns
    -------
    dict
        The run's metrics, as written to metrics.json (``test_rel_l2`` and more; see
        ``pdekit.eval.evaluate.evaluate`` and ``pdekit.pinn.run.write_pinn_record``).
    """
    return RUNNERS[recipe.kind].run(recipe, run_dir, quiet)


def evaluate_run(run_dir: str, data: str | None = None, json_out: str | None = None,
                 report_dir: str | None = None, device: str = "cpu", overrides: list[str] | None = None,
                 quiet: bool = False) -> dict:
    """Evaluate a trained run on its own test split or (operator runs) on another file in any layout
    pdekit reads. Writes nothing but ``json_out`` (the metrics) and ``report_dir`` (report.md and
    plots), each only when given: the run's own record is never changed.

    Parameters
    ----------
    run_dir : str
        A run folder with its checkpoint.pt.
    data : str or None
        An HDF5 file to evaluate on (operator runs only; None: the run's own test split, regenerated
        or read from the cache).
    json_out : str or None
        Write the metrics to this JSON file.
    report_dir : str or None
        Write report.md and plots to this folder (not the run folder).
    device : str
        Where the model is evaluated and timed against the solver: "cpu", "cuda" or "auto" (CUDA
        where available), as ``train.device``; PINN runs are scored on the CPU.
    overrides : list of str or None
        ``eval.KEY=VALUE`` settings over the run's own (more timing rounds, other transfer
        resolutions); training settings belong to the run and are refused.
    quiet : bool
        No progress bars (while test data the cache lacks is solved again).

    Returns
    -------
    dict
        The metrics.

    Raises
    ------
    PdekitError
        If an output lies in the run folder or is the data file, is not writable, the checkpoint is
        missing or unreadable, or ``data`` does not fit the model.
    """
    from pdekit.recipes import load_saved_recipe
    from pdekit.train.checkpoint import load_checkpoint

    def within(path, folder):
        path, folder = os.path.realpath(path), os.path.realpath(folder)
        return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)

    for flag, out in (("--json", json_out), ("--report", report_dir)):
        if out and within(out, run_dir):
            raise PdekitError(f"{flag} must name a path outside the run folder '{run_dir}': the run's own record "
                              f"(checkpoint, metrics, report) is never changed")
    written = [json_out] if json_out else []  # what would be written: the JSON file, the report and its plots
    written += [os.path.join(report_dir, "report.md"), os.path.join(report_dir, "plots")] if report_dir else []
    if data and any(within(data, path) for path in written):
        raise PdekitError(f"--json or --report would overwrite the data file '{data}'")
    if json_out:
        check_writable_file(json_out)
    if report_dir:
        check_writable_dir(report_dir)
    wrong = [o for o in overrides or () if not o.startswith("eval.")]
    if wrong:
        raise PdekitError(f"pdekit eval takes eval.KEY=VALUE settings only (the run's training settings are its "
                          f"own), got {wrong[0]}")
    saved = load_checkpoint(os.path.join(run_dir, "checkpoint.pt"))
    raw = json.loads(saved["recipe"])
    if overrides and raw.get("kind") == "pinn":
        raise PdekitError("a PINN run takes no evaluation settings (it is scored against its reference on the "
                          "training grid); give no eval.KEY=VALUE")
    recipe = load_saved_recipe(raw, overrides=overrides)
    _note_unfinished(run_dir, saved, "these are the metrics of {weights}. Run its recipe again with --out "
                                     f"{run_dir} to finish it")
    return RUNNERS[recipe.kind].evaluate(run_dir, recipe, data, json_out, report_dir,
                                         str(resolve_device(device, "--device")), quiet)


def _note_unfinished(run_dir: str, saved: dict, what: str) -> None:
    """Say so when the checkpoint ``saved`` is of a run killed before it finished; ``what`` says
    what is done with its weights (``{weights}`` names them)."""
    if "stop_reason" in saved and not saved["stop_reason"]:
        step = int(saved["epoch"]) + int(saved.get("lbfgs_iterations", 0))  # metrics.csv's numbering
        weights = (f"its best weights so far (epoch {saved['best_epoch']})" if "best_model" in saved
                   else "that checkpoint's weights")
        print(f"note: '{run_dir}' has not finished training (it was stopped, or is still running; its last "
              f"checkpoint: epoch {step}); {what.replace('{weights}', weights)}", file=sys.stderr)


def invert_run(run_dir: str, out: str | None = None, samples: int = 8, noise: float = 0.01, fraction: float = 0.25,
               steps: int = 300, bounds=None, channels=None, device: str = "cpu",
               quiet: bool = False, observed_from: int = 0) -> dict:
    """Recover test inputs of an operator run from noisy, partial observations of their outputs
    through its network (``eval.inverse.invert``: the smoothness chosen on validation samples, the
    answer checked by the solver where the run's data came from it). Writes ``inverse.json``,
    ``inverse.npz`` and ``inverse.png`` to ``out`` (default RUN_DIR/inverse) and returns the results.

    Parameters
    ----------
    run_dir : str
        An operator run folder with its checkpoint.pt.
    out : str or None
        The folder to write to (not the run folder itself).
    samples : int
        Test samples to invert, and validation samples to choose the smoothness on (the first ones).
    noise, fraction : float
        Observation noise relative to each sample's standard deviation, and the fraction of points observed.
    steps : int
        L-BFGS iterations at most.
    bounds : (low, high), (low_1, high_1, low_2, high_2, ...) or None
        A box the recovered inputs are known to lie in, in the data's units: one for every
        recovered channel, or one per recovered channel.
    channels : list of int or None
        The input channels to recover (None: those that vary in space); the others are held at
        their true values.
    device : str
        Where the network runs: "cpu", "cuda" or "auto".
    observed_from : int
        A trajectory run's first stored time observed (0: every time, the initial state included;
        above the run's data.input_time: the state to recover is not observed itself, as in data
        assimilation).
    """
    import numpy as np

    from pdekit.data.dataset import load_task
    from pdekit.eval.inverse import invert, plot_inversion, solve_inputs
    from pdekit.eval.report import _names
    from pdekit.problems import get_problem
    from pdekit.recipes import load_saved_recipe
    from pdekit.train.checkpoint import load_checkpoint
    from pdekit.train.supervised import load_trained

    out = out or os.path.join(run_dir, "inverse")
    if os.path.realpath(out) == os.path.realpath(run_dir):
        raise PdekitError("--out must name another folder than the run's: the run's own record is never changed")
    if samples < 1 or steps < 1 or observed_from < 0:
        raise PdekitError(f"--samples and --steps must be >= 1 and --observed-from >= 0, got {samples}, {steps} and "
                          f"{observed_from}")
    if not 0 < fraction <= 1 or not noise >= 0:
        raise PdekitError(f"--observed must lie in (0, 1] and --noise be >= 0, got {fraction} and {noise}")
    if bounds is not None:  # (against the channels varying in space, once the data show them)
        pairs = len(bounds) // 2
        if len(bounds) % 2 or not all(bounds[2 * i] < bounds[2 * i + 1] for i in range(pairs)):
            raise PdekitError(f"--bounds must be LOW HIGH pairs with LOW < HIGH, got {' '.join(f'{b:g}' for b in bounds)}")
        if channels is not None and pairs not in (1, len(set(channels))):
            raise PdekitError(f"--bounds gives {pairs} LOW HIGH pairs for {len(set(channels))} recovered channels: "
                              f"give one pair for all of them or one per channel")
    saved = load_checkpoint(os.path.join(run_dir, "checkpoint.pt"))
    recipe = load_saved_recipe(json.loads(saved["recipe"]))
    if recipe.kind != "operator" or recipe.data.input_steps > 1:
        kind = "several-input-steps trajectory" if recipe.kind == "operator" else recipe.kind
        raise PdekitError(f"'{run_dir}' is a {kind} run; pdekit invert takes operator runs that map one input (a "
                          f"field, or a trajectory's initial state) to their output (a PINN recovers coefficients "
                          f"itself: docs/pinn.md)")
    d = recipe.data
    if observed_from and not d.trajectory:
        raise PdekitError(f"--observed-from applies to trajectory runs (data.trajectory: true); '{run_dir}' maps to "
                          f"one time")
    if channels is not None and not all(0 <= c < int(saved["in_channels"]) for c in channels):
        raise PdekitError(f"--recover must name input channels 0 .. {int(saved['in_channels']) - 1} of this run, got "
                          f"{' '.join(map(str, channels))}")
    check_writable_dir(out, keep=False)  # made when the results are written: a refusal leaves none
    _note_unfinished(run_dir, saved, "{weights} are inverted as they are")
    device = str(resolve_device(device, "--device"))
    trained, _ = load_trained(run_dir, device)
    files = prepare_data(recipe, quiet=quiet, device=evaluation_data_device(recipe), splits=("val", "test"))
    cut = {k: f._replace(count=min(samples, f.count or samples)) if isinstance(f, Split) else f
           for k, f in files.items() if k in ("val", "test")}  # a user's file: its splits are Splits
    x_val, y_val, _ = load_task(cut["val"], d, limit=samples)
    x_test, y_test, meta = load_task(cut["test"], d, limit=samples)
    if d.trajectory and observed_from >= y_test.shape[2]:
        raise PdekitError(f"--observed-from must lie in 0 .. {y_test.shape[2] - 1}, the run's stored times, got "
                          f"{observed_from}")
    if len(x_test) < samples and not quiet:
        print(f"note: the test split holds {len(x_test)} samples; inverting those", file=sys.stderr)
    solver, cfg = None, meta["config"]
    why = "the run's data did not come from pdekit's solver starting at the stored input"
    problem = get_problem(cfg["problem"]).from_params(cfg["resolution"], cfg["params"]) if meta["problem"] else None
    drawn = sorted(problem.sample_params) if problem is not None else []
    planes = sorted({c for c in (channels or ()) if c >= int(saved["in_channels"]) - len(drawn)})  # (after the fields)
    if planes:  # the solver draws each sample's own: a check would hold the recovered value at the true one
        why = (f"the solver takes each sample's drawn {', '.join(drawn)}, not recovered channel(s) "
               f"{', '.join(map(str, planes))}")
    elif problem is not None and not (problem.time_dependent and d.input_time % problem.config.nt):
        first = cfg.get("first", 0) + getattr(files["test"], "start", 0)
        # a trajectory run: from the initial state (repeated along time in its input) to the whole trajectory
        solver = lambda x: solve_inputs(problem, cfg.get("seed", 0), first, x[:, :, 0] if d.trajectory else x,  # noqa: E731
                                        None if d.trajectory else d.target_time, device)
    periodic = saved.get("grid", recipe.data.resolved_grid()) == "periodic"  # the grid the run trained on
    if d.trajectory and not d.file:  # (nodes for its time axis; the initial state's space is the problem's)
        periodic = get_problem(d.problem).periodic
    results, arrays = invert(trained, (x_val, y_val), (x_test, y_test), noise=noise, fraction=fraction, steps=steps,
                             bounds=bounds, periodic=periodic, channels=channels, solver=solver,
                             repeated_slice=d.trajectory, from_time=observed_from, quiet=quiet)
    if solver is None:
        results["solver_check"] = why
    results.update({"run": run_dir, "recipe": recipe.name, "weights_epoch": trained.epoch,
                    "training_finished": bool(saved.get("stop_reason", "unrecorded"))})
    if os.path.exists(os.path.join(out, "inverse.json")):
        print(f"note: replacing the earlier inversion in {out} (--out DIR keeps both)", file=sys.stderr)
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "inverse.json"), results)
    np.savez(os.path.join(out, "inverse.npz"), **{k: v.numpy() for k, v in arrays.items()})
    results["plot"] = plot_inversion(arrays, os.path.join(out, "inverse.png"), _names(recipe),
                                     channel=results["channels"][0], trajectory=d.trajectory)
    return results


def trained_spans(recipe, state: dict) -> list[tuple[int, int]]:
    """(first, last) sample indices of the seed's stream that trained or validated a run: the
    training and validation ranges and, for an online run, the fresh samples past the test indices
    that its processes solved and trained on (from the checkpoint's stream positions)."""
    d = recipe.data
    ranges = split_ranges(d)
    seen = ranges["val"][0] + ranges["val"][1]
    spans = [(0, seen - 1)]
    if d.source == "online" and "online_state" in state:
        every = json.loads(state["online_state"])  # each process's next position p: stream p * world + rank
        stream = max(((s["next"] - 1) * len(every) + r + 1 for r, s in enumerate(every) if s["next"]), default=0)
        if stream > d.n_train:  # those past n_train skip the validation and test indices
            first = seen + d.n_test
            spans.append((first, first + stream - d.n_train - 1))
    return spans


def _check_foreign_data(recipe, state: dict, trained, data: str) -> list[str]:
    """Refuse a file the model cannot read; return notes on what it holds (printed, and put in the
    report): other parameters than the training data's, or samples the model trained on."""
    from pdekit.data.dataset import load_task

    x, y, meta = load_task(data, recipe.data, limit=1)
    first_space = 3 if recipe.data.trajectory else 2  # (a trajectory's inputs carry a time axis first)
    notes = []
    ranges = split_ranges(recipe.data)
    seen = ranges["val"][0] + ranges["val"][1]  # train and validation: samples 0 .. seen - 1
    if recipe.data.file:
        trained_at = tuple(load_task(recipe.data.file, recipe.data, limit=1)[0].shape[first_space:])
        from pdekit.data.formats import recorded_parameters

        ours, theirs = recorded_parameters(recipe.data.file), recorded_parameters(data)
        changed = [f"{k} = {theirs[k]!r} (trained on {ours[k]!r})" for k in sorted(ours) if k in theirs and theirs[k] != ours[k]]
        if changed:  # (as for generated data: other physics, said)
            notes.append(f"'{data}' records other parameters than the training file: {', '.join(changed)}; the "
                         f"metrics measure how the model carries over to them")
        if os.path.realpath(data) == os.path.realpath(recipe.data.file):
            test = ("data.test_file" if recipe.data.test_file else
                    f"samples {seen} .. {seen + recipe.data.n_test - 1}")
            notes.append(f"'{data}' is the run's own data.file, whose samples 0 .. {seen - 1} trained or validated "
                         f"this model: these metrics are not a test (the test split is {test}, which `pdekit eval` "
                         f"without --data scores)")
    else:
        coords = recipe.data_problem().coords()
        trained_at = tuple(len(coords[a]) for a in ("x", "y", "z") if a in coords)  # (channel flows: not square)
        if meta["problem"] is not None and meta["problem"] != recipe.data.problem:
            raise DataFileError(f"'{data}' holds {meta['problem']} data; the model was trained on {recipe.data.problem}")
        if meta["problem"] is not None:  # the same problem under other parameters: allowed, and said
            ours = dataclasses.asdict(recipe.data_problem().config)
            theirs = meta["config"].get("params", {})
            changed = [f"{k} = {theirs[k]!r} (trained on {ours[k]!r})" for k in sorted(ours)
                       if k != "solve_resolution" and k in theirs and theirs[k] != ours[k]]
            if changed:
                notes.append(f"'{data}' was generated with other parameters than the training data: "
                             f"{', '.join(changed)}; the metrics measure how the model carries over to them")
            cfg = meta["config"]
            start = cfg.get("first", 0)
            end = start + cfg.get("n", 0) - 1
            overlap = [(max(start, lo), min(end, hi)) for lo, hi in trained_spans(recipe, state)
                       if max(start, lo) <= min(end, hi)]
            if not changed and cfg.get("seed") == recipe.data.seed and overlap:
                used = ", ".join(f"{lo} .. {hi}" for lo, hi in overlap)
                notes.append(f"'{data}' holds samples {start} .. {end} of seed {recipe.data.seed}, of which {used} "
                             f"trained or validated this model: these metrics are not a test")
    if (x.shape[1], y.shape[1]) != (state["in_channels"], state["out_channels"]) or x.ndim - 2 != state["ndim"]:
        raise DataFileError(f"'{data}' has {x.shape[1]} input and {y.shape[1]} output channel(s) in {x.ndim - 2}D; "
                            f"the model takes {state['in_channels']} and gives {state['out_channels']} in "
                            f"{state['ndim']}D")
    found = tuple(x.shape[first_space:])  # every axis: a grid of other width but equal height is another grid

    def grid(shape):
        return " x ".join(map(str, shape))

    if not getattr(trained.model, "resolution_invariant", False) and found != trained_at:
        raise DataFileError(f"'{data}' is at resolution {grid(found)}; {recipe.model['name']} is not "
                            f"resolution-invariant and was trained at {grid(trained_at)}")
    if found != trained_at:
        notes.append(f"'{data}' is stored at resolution {grid(found)}; the model was trained at {grid(trained_at)}")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return notes
