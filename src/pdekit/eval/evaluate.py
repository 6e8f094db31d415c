"""Evaluate a trained model: metrics on the test split, resolution transfer, and the surrogate's
time per sample next to the solver's, measured in the same run on the same device. The solver is
also timed at cheaper settings (coarser solve grids, larger steps) to show what accuracy it
reaches at each speed."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time

import torch

from pdekit.data.dataset import load_task
from pdekit.data.generate import solve_samples
from pdekit.errors import UnstableError
from pdekit.eval import metrics
from pdekit.models.registry import count_parameters
from pdekit.problems import get_problem


def _best_time(fn, repeats: int = 3):
    """(fn's result, best wall time of ``repeats`` calls after one warm-up call)."""
    result = fn()  # warm-up
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return result, best


def model_seconds_per_sample(trained, x: torch.Tensor) -> float:
    return _best_time(lambda: trained.predict(x, batch_size=len(x)))[1] / len(x)


def _cheaper_settings(problem) -> list[dict]:
    """Solver settings cheaper than the data's: coarser solve grids that still contain the stored
    grid, and for time-dependent problems larger steps."""
    c = problem.config
    settings = []
    s, r = problem.solve_resolution, problem.resolution
    if problem.periodic:
        grids = [g for g in (s, s // 2, s // 4, s // 8) if g >= r and g % r == 0]
    else:  # node grids: (g - 1) / (r - 1) nodes per stored cell
        k = (s - 1) // (r - 1)
        grids = [j * (r - 1) + 1 for j in sorted({k, max(1, k // 2), 1}, reverse=True)]
    for g in dict.fromkeys(grids):
        if hasattr(c, "dt"):
            for factor in (1, 4, 16, 64):
                settings.append({"solve_resolution": g, "dt": c.dt * factor})
        else:
            settings.append({"solve_resolution": g})
    return settings


def solver_ladder(problem, seed: int, first: int, y_true: torch.Tensor, target_time: int | None,
                  device: str) -> list[dict]:
    """Time and error (mean relative L2 against the stored targets) of the solver at each setting
    (``target_time`` None: the targets are whole trajectories)."""
    count = len(y_true)
    indices = range(first, first + count)
    out = []
    base = dataclasses.asdict(problem.config)
    for setting in _cheaper_settings(problem):
        try:
            p = get_problem(problem.name).from_params(problem.resolution, {**base, **setting})
            arrays, seconds = _best_time(lambda: solve_samples(p, seed, indices, device), repeats=1)
        except UnstableError:
            continue
        pred = torch.from_numpy(arrays[f"fields/{p.fields[0]}"])
        if p.time_dependent and target_time is not None:
            pred = pred[:, target_time]
        error = float(metrics.relative_l2(pred[:, None], y_true).mean())
        out.append({**setting, "seconds_per_sample": seconds / count, "rel_l2": error})
    return out


def evaluate(trained, recipe, run_dir: str, test_file: str, transfer_files: dict, quiet: bool = False,
             json_out: str | None = None) -> dict:
    from pdekit.eval.report import write_report

    d = recipe.data
    x_test, y_test, meta = load_task(test_file, d)
    pred = trained.predict(x_test)
    results = metrics.summary(pred, y_test)
    results["test_rel_l2"] = results.pop("rel_l2")
    transfer = {}
    for res, path in sorted(transfer_files.items()):
        xt, yt, _ = load_task(path, d)
        transfer[int(res)] = float(metrics.relative_l2(trained.predict(xt), yt).mean())

    cfg = meta["config"]
    k = min(recipe.eval.timing_samples, len(x_test))
    device = trained.device.type
    model_time = model_seconds_per_sample(trained, x_test[:k])
    solver_time, ladder = None, []
    if meta["problem"] is not None:  # pdekit's own data: time the solver that made it
        problem = get_problem(cfg["problem"]).from_params(cfg["resolution"], cfg["params"])
        first = cfg["first"] + getattr(test_file, "start", 0)
        solver_time = _best_time(lambda: solve_samples(problem, cfg["seed"], range(first, first + k), device),
                                 repeats=1)[1] / k
        if recipe.eval.solver_ladder:
            ladder = solver_ladder(problem, cfg["seed"], first, y_test[:k], None if d.trajectory else d.target_time,
                                   device)
    results.update({
        "params": count_parameters(trained.model),
        "train_seconds": trained.train_seconds,
        "epochs": len(trained.history),
        "solver_seconds_per_sample": solver_time,
        "model_seconds_per_sample": model_time,
        "speedup": solver_time / model_time if solver_time else None,
        "resolution": cfg["resolution"],
        "resolution_transfer": {str(r): e for r, e in transfer.items()},
        "solver_ladder": ladder,
        "device": device,
        "recipe": recipe.name,
        "data_layout": meta["layout"],
    })
    os.makedirs(run_dir, exist_ok=True)
    for path in filter(None, [os.path.join(run_dir, "metrics.json"), json_out]):
        tmp = f"{path}.tmp"
        with open(tmp, "w") as fh:
            json.dump(results, fh, indent=2)
        os.replace(tmp, path)
    write_report(run_dir, recipe, trained, results, x_test, y_test, pred)
    return results
