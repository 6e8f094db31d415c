"""Evaluation of an autoregressive model on test trajectories, and the run's report: per-step
errors, the aggregates of eval/rollout.py, a stability check far past the training horizon, and
plots (error against time, prediction, truth and error in space-time or as frames)."""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
import torch

from pdekit.eval.report import _label, _names, _pyplot, _save, file_splits, trained_by
from pdekit.eval.rollout import rollout_metrics

BLOW_UP = 10.0  # a rollout has blown up once |u| exceeds this many times the largest |u| of the truth


@torch.no_grad()
def evaluate_rollout(model, u: torch.Tensor, t, history: int, steps: int, stability_steps: int = 0,
                     batch_size: int = 32, problem=None,
                     cond: torch.Tensor | None = None) -> tuple[dict, torch.Tensor, torch.Tensor, np.ndarray]:
    """Roll ``model`` (an Autoregressive) out from the first ``history`` states of each test
    trajectory.

    Parameters
    ----------
    model : the trained Autoregressive model.
    u : test trajectories (n, nt, channels, *space).
    t : the stored times (nt,).
    history, steps : states the model reads, and steps predicted and scored (history + steps <= nt).
    stability_steps : also roll out this many steps (no truth needed) and report where, if
        anywhere, the rollout stops being finite or exceeds 10 times the truth's largest value.
    batch_size : trajectories rolled out together.
    problem : the Problem that made the data: the drift of what it declares conserved is reported
        (``<name>_drift`` for the rollout, ``<name>_drift_truth`` for the stored data), the mean over
        trajectories of the largest change from the rollout's start state.
    cond : each trajectory's parameters (n, p), for a model conditioned on them.

    Returns
    -------
    (metrics, pred (n, steps, channels, *space), true (same), times of the predicted steps (steps,)).
    The metrics include ``rollout_seconds_per_trajectory``: the median of three rollouts of all
    test trajectories (in batches of ``batch_size``), divided by their number.
    """
    model.eval()
    device, dtype = next(model.parameters()).device, model.mean.dtype  # float64 after an L-BFGS phase
    start, true = u[:, :history].to(dtype), u[:, history : history + steps]

    def cond_of(i, j):
        return None if cond is None else cond[i:j].to(device)

    def predict():
        return torch.cat([model.rollout(start[i : i + batch_size].to(device), steps, cond=cond_of(i, i + batch_size))
                          .float().cpu() for i in range(0, len(u), batch_size)])

    seconds = []
    for _ in range(3):  # the first round warms up; the median of the three is reported
        begin = time.perf_counter()
        pred = predict()
        seconds.append(time.perf_counter() - begin)
    times = np.asarray(t, dtype=np.float64)[history : history + steps]
    metrics = rollout_metrics(pred, true, times - float(t[history - 1]))  # times since the rollout's start
    metrics["rollout_seconds_per_trajectory"] = statistics.median(seconds) / len(u)
    if problem is not None and problem.conserved:
        metrics.update(conserved_drift(problem, start[:, -1], pred, "_drift"))
        metrics.update(conserved_drift(problem, start[:, -1], true, "_drift_truth"))
    if stability_steps:
        limit = BLOW_UP * float(u.abs().max())
        states, first_bad, done, reason = start.to(device), None, 0, None
        while done < stability_steps and first_bad is None:
            try:
                nxt = model.advance(states, cond=cond_of(0, len(u)))  # (n, bundle, ...): one call of the network
            except torch.cuda.OutOfMemoryError:
                raise  # the machine's limit, not the model's instability
            except (RuntimeError, AssertionError, ArithmeticError) as err:
                # the same call ran over the test horizon, so what fails now fails on the grown state
                # (an adaptive ODE solver's step size underflows, say): reported, not raised
                first_bad, reason = done + 1, f"the model raised {type(err).__name__}: {str(err).strip()[:200]}"
                break
            bad = [k for k in range(nxt.shape[1]) if not torch.isfinite(nxt[:, k]).all()
                   or float(nxt[:, k].abs().max()) > limit]
            if bad and done + bad[0] < stability_steps:
                first_bad = done + bad[0] + 1
            states, done = torch.cat([states, nxt], dim=1)[:, -history:], done + nxt.shape[1]
        metrics.update({"stability_steps": stability_steps, "stable": first_bad is None,
                        "blow_up_step": first_bad})
        if reason:
            metrics["blow_up_reason"] = reason
    return metrics, pred, true, times


def conserved_drift(problem, start: torch.Tensor, states: torch.Tensor, suffix: str) -> dict[str, float]:
    """Mean over trajectories of max over steps |Q(state) - Q(start)| for each quantity Q the
    problem conserves; ``start`` (n, channels, *space), ``states`` (n, steps, channels, *space)."""
    def quantities(x):
        return problem.conserved_quantities({name: x[:, i] for i, name in enumerate(problem.fields)})

    q0 = quantities(start)
    per_step = [quantities(states[:, s]) for s in range(states.shape[1])]
    return {f"{key}{suffix}": float(torch.stack([(q[key] - q0[key]).abs() for q in per_step]).max(dim=0).values.mean())
            for key in q0}


ROLLOUT_GLOSSARY = {
    "trajectory_rel_l2": "per test trajectory ‖prediction - truth‖ / ‖truth‖ over every predicted step, "
                         "averaged (the FNO paper's Navier-Stokes metric)",
    "rollout_gmean100": "geometric mean of the per-step nRMSE over the first 100 steps (APEBench); none with "
                        "fewer steps",
    "correlation_time": "time since the rollout's start state at which the mean Pearson correlation with the truth "
                        "first falls below 0.8 "
                        "(PDE-Refiner); none if it never does within the rollout",
    "final_rel_l2": "relative L2 at the last predicted step",
    "mass_drift": "largest change of the spatial mean (conserved by the PDE) along the rollout, averaged over "
                  "trajectories",
    "mass_drift_truth": "the same for the stored data (the solver's conservation, round-off)",
    "energy_drift": "largest change of the energy (conserved by the PDE) along the rollout, averaged",
    "energy_drift_truth": "the same for the stored data",
    "stable": "whether a rollout 10x as long as the test's stayed finite and within 10x the truth's largest value",
    "blow_up_step": "the step at which it did not (none if stable)",
    "blow_up_reason": "where the model raised an error in that rollout instead of returning states, the error",
    "val_rollout_rel_l2": "per-step relative L2 of the validation rollouts (as far as the test ones), averaged over "
                          "steps and trajectories: what chose the weights",
    "speedup": "the cheapest solver setting as accurate as the surrogate over the same steps, its time over the "
               "surrogate's (below 1: the solver is faster)",
    "model_seconds_per_sample": "the surrogate's rollout time per test trajectory (median of alternating rounds)",
    "solver_seconds_per_sample": "the solver's time per trajectory at the data's setting, from the same state",
    "solver_device": "where the solver ran (the CPU for solvers that run only there, whatever the model's device)",
    "train_seconds": "training wall time",
    "train_processes": "the process count of each session that trained it (2, 1: two processes, resumed by one)",
    "params": "trainable parameters (a complex weight counts twice)",
    "learned_stencil": "a stencil network's weights in physical units, per output and input field over the offsets "
                       "-w/2 .. w/2: u_t = sum_j w_j u(x + j h) + learned_offset",
    "learned_offset": "the constant the stencil adds per output field (zero where each stencil sums to zero)",
}


def rollout_sentence(metrics: dict, times, history: int) -> str:
    """The report's opening: how the error moves over the rollout and how long the prediction stays
    correlated with the truth (or that the correlation is undefined where the truth is constant)."""
    corr, defined = metrics["correlation_time"], metrics.get("correlation_defined_steps", len(times))
    first, last = metrics["rollout_rel_l2"][0], metrics["rollout_rel_l2"][-1]
    if corr is not None:
        correlated = f"falls below 0.8 after {corr:g} time units."
    elif defined == 0:
        correlated = "is undefined (the truth is constant over the grid at every step)."
    else:
        correlated = "stays above 0.8 throughout" + (f" ({defined} of {len(times)} steps; at the others the truth "
                                                     f"is constant over the grid)." if defined < len(times) else ".")
    step = float(times[1] - times[0]) if len(times) > 1 else metrics.get("dt")
    states = "state" if history == 1 else f"{history} states"
    before = None if step is None else float(times[0] - step)
    before = 0.0 if before is not None and abs(before) < 1e-6 * abs(step) else before  # (float32 times: 7e-09)
    start = "" if before is None else f" {'at' if history == 1 else 'up to'} t = {before:g}"
    return (f"From the stored {states}{start} of each test trajectory the surrogate rolled out {len(times)} steps "
            f"(t = {times[0]:g} to {times[-1]:g}); its relative L2 {'grows' if last >= first else 'falls'} from "
            f"{first:.3g} at the first step to {last:.3g} at the last (whole trajectory: "
            f"{metrics['trajectory_rel_l2']:.3g}), and its correlation with the truth {correlated}")


def write_rollout_report(run_dir: str, recipe, metrics: dict, pred, true, times, history) -> None:
    """report.md and plots/ (error against time, prediction against truth, training curves)."""
    plt = _pyplot()
    plots = os.path.join(run_dir, "plots")
    os.makedirs(plots, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.semilogy(times, metrics["rollout_rel_l2"], label="relative L2")
    ax.semilogy(times, metrics["rollout_nrmse"], "--", label="nRMSE")
    _label(ax, "time t of the predicted state", "error (mean over test trajectories, log scale)",
           "rollout error against time")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    _save(fig, os.path.join(plots, "error_vs_time.png"))
    plt.close(fig)
    _prediction_plot(plt, pred[0, :, 0].numpy(), true[0, :, 0].numpy(), times, os.path.join(plots, "rollout.png"),
                     _names(recipe)[1])
    if history:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        epochs = [h["epoch"] for h in history]
        ax.semilogy(epochs, [h["train_loss"] for h in history], label="training loss")
        ax.semilogy(epochs, [h["val_rollout_rel_l2"] for h in history], label="validation rollout relative L2")
        _label(ax, "epoch", "loss / error (log scale)", "training curves")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
        _save(fig, os.path.join(plots, "loss.png"))
        plt.close(fig)
    verdict = rollout_sentence(metrics, times, recipe.rollout.history)
    if metrics.get("speed_verdict"):
        verdict += " " + metrics["speed_verdict"].replace("per sample", "per trajectory")
        from pdekit.eval.report import _speed

        plt.close(_speed(plt, {**metrics, "device": metrics.get("device", "cpu")}, os.path.join(plots, "speed.png"),
                         unit="trajectory"))
    if "stable" in metrics:
        verdict += (f" A rollout of {metrics['stability_steps']} steps "
                    + ("stayed bounded." if metrics["stable"] else f"blew up at step {metrics['blow_up_step']}"
                       + (f" ({metrics['blow_up_reason']})." if metrics.get("blow_up_reason") else ".")))
    rows = [f"| {k} | {format_value(metrics[k])} | {meaning} |" for k, meaning in ROLLOUT_GLOSSARY.items() if k in metrics]
    quick = recipe.name.endswith("-quick")
    text = "\n".join([f"# {recipe.name}", "", verdict, "", "## Setup", "",
                      f"The quick variant of: {recipe.description}" if quick else recipe.description, "",
                      *_setup(recipe, metrics), "", "## Metrics", "",
                      "| metric | value | meaning |", "|---|---|---|", *rows, "",
                      "Per-step errors are in metrics.json (`rollout_rel_l2`, `rollout_nrmse`) and the rollouts "
                      "in rollout.npz (`pred`, `true`: samples x steps x channels x space; `t`).", "",
                      "![error against time](plots/error_vs_time.png) ![rollout](plots/rollout.png)"
                      + (" ![speed](plots/speed.png)" if metrics.get("speed_verdict") else "")
                      + (" ![training](plots/loss.png)" if history else ""), ""])
    with open(os.path.join(run_dir, "report.md"), "w") as fh:
        fh.write(text)


def _setup(recipe, metrics: dict) -> list[str]:
    """What was trained on what: the data and its splits, the step, the model, the training mode."""
    d, r, task, t = recipe.data, recipe.rollout, recipe.task, recipe.train
    if d.file:
        source = f"`{d.file}`: trajectories {file_splits(d)}"
    else:
        source = (f"{d.problem}, {d.resolution or recipe.data_problem().resolution} points per axis: "
                  f"{d.n_train} train / {d.validation_count} validation / {d.n_test} test trajectories (disjoint "
                  f"index ranges of seed {d.seed})")
    dt = metrics.get("dt")
    steps = "one stored step" if r.bundle == 1 else f"{r.bundle} stored steps"
    steps += f" (dt = {dt:.4g})" if dt else ""
    target = "the next state" if r.target == "state" else f"the time derivative, integrated by {r.integrator}"
    model = ", ".join(f"{k}={v}" for k, v in recipe.model.items() if k != "name")
    params = f", {metrics['params']:,} parameters" if metrics.get("params") else ""
    mode = {"one_step": "one-step teacher forcing"}.get(task.mode, task.mode) + (
        f" over {task.unroll} calls" if task.unroll > 1 else "")
    seconds = (f"; {metrics['train_seconds']:.1f} s of training{trained_by(metrics.get('train_processes'))}"
               if metrics.get("train_seconds") is not None else "")
    varied = [] if d.file or r.conditioning == "none" else sorted(recipe.data_problem().sample_params)
    conditioned = f", conditioned on {', '.join(varied)} ({r.conditioning})" if varied else ""
    return [f"- data: {source}; grid {d.resolved_grid()}",
            f"- model: {recipe.model['name']} ({model}){params}, reads {r.history} state{'s' if r.history > 1 else ''} "
            f"and predicts {target}, {steps} per call{conditioned}",
            f"- training: windows of {r.history} + {r.steps} steps (stride {r.stride}), {mode}"
            + (f", input noise {task.noise:g}" if task.noise else "") + f", {t.epochs} epochs, batch "
            f"{t.batch_size}, lr {t.lr:g}{seconds}"]


def format_value(value) -> str:
    """A metric as the report and the summary show it: 4 significant digits, yes/no, none, lists."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "none" if value is None else str(value)


def _prediction_plot(plt, pred: np.ndarray, true: np.ndarray, times, path: str, name: str = "value"):
    """1D: space-time images of truth, prediction and error (frames for a single step); 2D: frames
    at three times; 3D: those frames through the middle of the last axis. ``name``: the field's.
    Returns the (closed) figure."""
    was_3d = pred.ndim == 4
    if was_3d:  # (steps, x, y, z): the 2D frames through the middle z
        pred, true = pred[..., pred.shape[-1] // 2], true[..., true.shape[-1] // 2]
    if pred.ndim == 2 and len(times) == 1:  # one step: no space-time image, the profiles
        fig, ax = plt.subplots(figsize=(6, 3.6))
        grid = np.arange(pred.shape[-1]) / pred.shape[-1]
        ax.plot(grid, true[0], lw=2, label="truth")
        ax.plot(grid, pred[0], "--", lw=1.2, label="prediction")
        ax.legend(fontsize=7)
        _label(ax, "x (fraction of the domain)", name, f"first test trajectory at t = {times[0]:g}")
    elif pred.ndim == 2:  # (steps, x)
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
        extent = [0, 1, times[0], times[-1]]
        vmax = float(np.abs(true).max())
        for ax, field, title in zip(axes, (true, pred, np.abs(pred - true)), ("truth", "prediction", "|error|")):
            im = ax.imshow(field, origin="lower", aspect="auto", extent=extent,
                           cmap="magma" if title == "|error|" else "RdBu_r",
                           **({} if title == "|error|" else {"vmin": -vmax, "vmax": vmax}))
            _label(ax, "x (fraction of the domain)", "t", f"{name}: {title}, first test trajectory")
            fig.colorbar(im, ax=ax)
    else:  # (steps, x, y): frames
        picks = sorted({0, len(times) // 2, len(times) - 1})
        fig, axes = plt.subplots(3, len(picks), figsize=(3.4 * len(picks), 9.5), squeeze=False)
        for j, s in enumerate(picks):
            vmax = float(np.abs(true[s]).max())  # truth and prediction on one colour scale
            for i, (field, title) in enumerate(((true[s], "truth"), (pred[s], "prediction"),
                                                (np.abs(pred[s] - true[s]), "|error|"))):
                scale = {} if title == "|error|" else {"vmin": -vmax, "vmax": vmax}
                im = axes[i, j].imshow(field.T, origin="lower", extent=[0, 1, 0, 1],
                                       cmap="magma" if title == "|error|" else "RdBu_r", **scale)
                axes[i, j].set_xticks([0, 0.5, 1])
                _label(axes[i, j], "x", "y" + (" (at the middle z)" if was_3d else ""),
                       f"{name}: {title}, t = {times[s]:g}")
                fig.colorbar(im, ax=axes[i, j])
    _save(fig, path)
    plt.close(fig)
    return fig

