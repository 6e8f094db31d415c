"""A rollout surrogate against the classical solver at matched accuracy: the problem's own
stepper, started from the very state the surrogate starts from, at the data's solve grid and time
step and at cheaper ones (coarser grids, larger steps), until a setting is less accurate than the
surrogate over the same predicted steps. Surrogate and settings are timed in alternating rounds."""

from __future__ import annotations

import math

import numpy as np
import torch

from pdekit.eval import metrics
from pdekit.eval.evaluate import _time_rounds, _timed, ladder, regrid, speed_verdict
from pdekit.problems import get_problem


class _RolloutSetting:
    """The stepper of one solver setting, ready to advance the timed start states."""

    def __init__(self, problem, params: dict, start: torch.Tensor, times: list[float], device, per_sample: dict):
        self.problem, self.grid, self.times = problem, params["solve_resolution"], times
        self.solver = get_problem(problem.name).from_params(min(self.grid, problem.resolution), params)
        on_grid = regrid(problem, start.double(), problem.resolution, self.grid).to(device)
        self.fields = {name: on_grid[:, i] for i, name in enumerate(problem.fields)}
        self.fields.update({name: torch.as_tensor(v, dtype=torch.float64, device=device) for name, v in per_sample.items()})

    def run(self) -> dict:
        with torch.no_grad():
            return self.solver.advance(self.fields, self.times)

    def on_stored_grid(self, states: dict) -> torch.Tensor:
        """(samples, steps, channels, *space) on the stored grid, the start state left out."""
        fields = [torch.stack(states[name][1:], dim=1) for name in self.problem.fields]
        return regrid(self.problem, torch.stack(fields, dim=2).cpu(), self.grid, self.problem.resolution).float()


def rollout_solver_ladder(problem, start: torch.Tensor, times, truth: torch.Tensor, surrogate_error: float,
                          device: str = "cpu", per_sample: dict | None = None, full: bool = True):
    """Settings of the solver from the data's down, each advancing ``start`` (samples, channels,
    *space; the stored state the surrogate's rollout starts from) to ``times`` (the start's time
    first), scored by the trajectory relative L2 against ``truth`` (samples, steps, channels,
    *space); ``per_sample``: the samples' own values of parameters that vary, {name: (samples,)};
    ``full``: also the cheaper settings (else the data's only). Returns (rows, skipped, settings) as
    pdekit.eval.evaluate.solver_ladder does."""
    rel_times = [float(t - times[0]) for t in times]

    def attempt(params):
        setting = _RolloutSetting(problem, params, start, rel_times, device, per_sample or {})
        states, seconds = _timed(setting.run)
        return setting, float(metrics.relative_l2(setting.on_stored_grid(states), truth).mean()), seconds / len(start)

    interval = min(b - a for a, b in zip(rel_times[:-1], rel_times[1:]))
    return ladder(problem, interval, surrogate_error, attempt, full)


def compare_rollout_with_solver(model, problem, states: torch.Tensor, times, truth: torch.Tensor,
                                rounds: int = 5, params: dict | None = None, cond: torch.Tensor | None = None) -> dict:
    """The rollout surrogate's speed against the solver at matched accuracy.

    Parameters
    ----------
    model : a trained pdekit.train.rollout.Autoregressive.
    problem : the Problem that made the data, at the stored resolution.
    states : the surrogate's input states (samples, history, channels, *space); the solver starts
        from the last of them.
    times : the stored times of that last state and of every predicted step (steps + 1,).
    truth : the stored states of the predicted steps (samples, steps, channels, *space).
    rounds : alternating timing rounds; medians are reported.
    params : the samples' values of parameters that vary per sample, {name: (samples,)}, for the solver.
    cond : the same as the model is conditioned on (samples, p), where it is.

    Returns
    -------
    dict : ``speedup`` (the cheapest setting as accurate as the surrogate over the surrogate's
    time), ``speed_verdict``, ``solver_ladder``, ``solver_ladder_skipped``, seconds per trajectory.
    """
    device = next(model.parameters()).device
    steps, count = truth.shape[1], len(states)
    x, c = states.to(device, model.mean.dtype), None if cond is None else cond.to(device)

    def rollout():
        with torch.no_grad():
            return model.rollout(x, steps, cond=c)

    first = _timed(rollout)[1] / count
    surrogate_error = float(metrics.relative_l2(rollout().float().cpu(), truth).mean())
    rows, skipped, settings = [], [], []
    if math.isfinite(surrogate_error):  # nothing to match a blown-up rollout to
        rows, skipped, settings = rollout_solver_ladder(problem, states[:, -1], np.asarray(times), truth,
                                                        surrogate_error, device.type, params)
    medians = _time_rounds([rollout] + [s.run for s in settings], rounds)
    for row, seconds in zip(rows, medians[1:]):
        row["seconds_per_sample"] = seconds / count
    model_time = medians[0] / count
    return {"model_seconds_per_sample": model_time, "model_first_call_seconds_per_sample": first,
            "solver_seconds_per_sample": rows[0]["seconds_per_sample"] if rows else None, "timed_samples": count,
            "timed_rel_l2": surrogate_error, "threads": torch.get_num_threads(),
            **speed_verdict(rows, model_time, surrogate_error, skipped),
            "solver_ladder": rows, "solver_ladder_skipped": skipped}
