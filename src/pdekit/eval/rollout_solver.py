"""A rollout surrogate against the classical solver at matched accuracy: the problem's own
stepper, started from the very state the surrogate starts from, at the data's solve grid and time
step and at cheaper ones (coarser grids, larger steps), until a setting is less accurate than the
surrogate over the same predicted steps. Surrogate and settings are timed in alternating rounds."""

from __future__ import annotations

import math

import numpy as np
import torch

from pdekit.eval import metrics
from pdekit.eval.evaluate import _time_rounds, _timed, speed_verdict, state_ladder


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
        rows, skipped, settings = state_ladder(problem, states[:, -1], np.asarray(times), truth,
                                                surrogate_error, device.type, params)
    medians = _time_rounds([rollout] + [s.run for s in settings], rounds)
    for row, seconds in zip(rows, medians[1:]):
        row["seconds_per_sample"] = seconds / count
    model_time = medians[0] / count
    return {"model_seconds_per_sample": model_time, "model_first_call_seconds_per_sample": first,
            "solver_seconds_per_sample": rows[0]["seconds_per_sample"] if rows else None, "timed_samples": count,
            "timed_rel_l2": surrogate_error, "threads": torch.get_num_threads(),
            "solver_device": problem.solver_device or device.type,
            **speed_verdict(rows, model_time, surrogate_error, skipped),
            "solver_ladder": rows, "solver_ladder_skipped": skipped}
