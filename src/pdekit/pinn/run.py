"""Running a PINN recipe (``kind: pinn``, recipes/pinn.py): ``pdekit run`` trains with the one
Trainer, evaluates against the reference and writes metrics.json, prediction.npz, metrics.csv, a
checkpoint and report.md with plots; ``evaluate_pinn_run`` evaluates a run folder's checkpoint
again."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import torch

from pdekit.errors import DataFileError
from pdekit.paths import write_json

def train_pinn_recipe(recipe, run_dir: str | None, quiet: bool = False, setup: str | None = None) -> tuple[object, dict]:
    """(the recipe's Benchmark with its PINN trained, the PinnTask's summary); with ``run_dir``, a
    checkpoint there resumes (or, for a finished run, just restores the weights); ``setup``: the
    recipe's JSON as the checkpoint records it (None: ``recipe.to_json()``)."""
    from pdekit.pinn.task import PinnTask
    from pdekit.recipes.pinn import build_benchmark
    from pdekit.train.trainer import Trainer, distributed

    torch.manual_seed(recipe.train.seed)  # before the network is built: its initialization is part of the run
    bench = build_benchmark(recipe.problem, recipe.model)
    if distributed()[0] == 0:  # the reference first (where the record is written): a solver failing fails now
        bench.reference
    task = PinnTask(recipe.task)
    trained = Trainer(bench.pinn, task, recipe.train, run_dir, setup or recipe.to_json(), name=recipe.name, quiet=quiet).fit()
    return bench, task.result(trained)


def write_pinn_record(recipe, run_dir: str, bench, result: dict) -> dict:
    """Evaluate a trained PINN (``train_pinn_recipe``'s pair) against the reference and write the
    run's record: metrics.json, prediction.npz and report.md with plots. Under torchrun the first
    process writes it; the others return {}."""
    from pdekit.train.trainer import distributed

    if distributed()[0] > 0:
        return {}
    metrics, u = _metrics(bench, recipe, result)
    write_json(os.path.join(run_dir, "metrics.json"), metrics)
    np.savez(os.path.join(run_dir, "prediction.npz"), **bench.grid, u=u, reference=bench.reference)
    _report(run_dir, recipe, metrics, bench, u, result["history"])
    return metrics


def evaluate_pinn_run(run_dir: str, json_out: str | None = None, report_dir: str | None = None) -> dict:
    """The metrics of a PINN run folder's checkpoint against the reference, as ``pdekit run`` wrote
    them, without training. Writes nothing but ``json_out`` (the metrics) and ``report_dir`` (report.md
    and plots), each only when given: the run folder is left as it is."""
    from pdekit.pinn.task import summary
    from pdekit.recipes import load_saved_recipe
    from pdekit.recipes.pinn import build_benchmark
    from pdekit.train.checkpoint import load_checkpoint, recorded_processes
    from pdekit.train.trainer import FORMAT, check_checkpoint_model

    path = os.path.join(run_dir, "checkpoint.pt")
    saved = load_checkpoint(path)
    if saved.get("format") != FORMAT:
        raise DataFileError(f"'{path}' is a checkpoint of an older pdekit, which this one cannot read; train the run "
                            f"again (delete its folder or choose another --out)")
    recipe = load_saved_recipe(json.loads(saved["recipe"]))
    if recipe.kind != "pinn":
        raise DataFileError(f"'{path}' is not the checkpoint of a PINN run")
    bench = build_benchmark(recipe.problem, recipe.model)
    if saved["phase"] == "lbfgs":  # the weights are in L-BFGS precision from then on
        bench.pinn.to(recipe.train.lbfgs_torch_dtype)
    check_checkpoint_model(saved, bench.pinn, path)
    bench.pinn.load_state_dict(saved["model"])
    steps = int(saved["epoch"]) + int(saved["lbfgs_iterations"])
    result = summary(bench.pinn, json.loads(saved["history"]), float(saved["seconds"]), steps,
                     int(saved["epoch"]), json.loads(saved["phase_seconds"])["adam"],
                     saved["stop_reason"] or "training was interrupted", int(saved.get("threads", 0)),
                     recorded_processes(saved))
    metrics, u = _metrics(bench, recipe, result)
    if json_out:
        write_json(json_out, metrics)
    if report_dir:
        _report(report_dir, recipe, metrics, bench, u, result["history"])
    return metrics


def _metrics(bench, recipe, result: dict) -> tuple[dict, np.ndarray]:
    """(metrics, prediction on the reference grid) of the trained bench.pinn; ``result``: the PinnTask's summary."""
    metrics, u = bench.evaluate()
    metrics.update({
        "train_seconds": result["seconds"], "steps": result["steps"], "stop_reason": result["stop_reason"],
        "adam_steps_per_second": result["adam_steps_per_second"], "final_loss": result["loss"],
        "params": sum(p.numel() for p in bench.pinn.parameters()), "recipe": recipe.name,
        "coefficients": result["coefficients"], "threads": result["threads"],  # (a time budget's steps depend on them)
        "train_processes": result["processes"],
    })
    return metrics, u


PINN_GLOSSARY = {
    "test_rel_l2": "‖u_PINN - u_ref‖ / ‖u_ref‖ over the reference grid",
    "max_error": "largest |u_PINN - u_ref| on the reference grid",
    "train_seconds": "training wall time",
    "steps": "optimizer steps, Adam then L-BFGS",
    "stop_reason": "why training ended",
    "adam_steps_per_second": "Adam iterations per second of the Adam phase",
    "final_loss": "weighted sum of the mean square residual and condition misfits at the end",
    "params": "trainable parameters",
    "recipe": "recipe name",
    "threads": "torch's CPU threads in the process that trained (train.threads, else torch's default)",
    "train_processes": "the process count of each session that trained it (2, 1: two processes, resumed by one)",
    "nu": "the recovered viscosity (inverse problem)",
    "nu_true": "the viscosity that made the observations",
    "nu_rel_error": "|nu - nu_true| / nu_true",
}


def _report(run_dir, recipe, metrics, bench, u, history):
    """report.md and plots/ in ``run_dir`` (the run folder, or any folder for a later evaluation)."""
    from pdekit.eval.report import _pyplot, cell

    plt = _pyplot()
    os.makedirs(os.path.join(run_dir, "plots"), exist_ok=True)
    (a, b), ref = list(bench.grid.values())[:2], bench.reference
    names = list(bench.grid)[:2]  # the image's columns and rows: x and t (or y)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    extent = [a.min(), a.max(), b.min(), b.max()]
    fields, titles = (u, ref, np.abs(u - ref)), ("PINN", "reference", "|error|")
    if ref.ndim > len(bench.grid):  # a vector quantity (a velocity): its length, and that of the error
        norm = lambda f: np.sqrt((f**2).sum(-1))  # noqa: E731
        fields, titles = (norm(u), norm(ref), norm(u - ref)), ("PINN: |(u, v)|", "reference: |(u, v)|", "|error|")
    for ax, field, title in zip(axes, fields, titles):
        im = ax.imshow(field if "t" in bench.grid else field.T, origin="lower", aspect="auto",  # rows: t or y
                       extent=extent, cmap="RdBu_r" if title != "|error|" else "magma")
        ax.set_title(title)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(os.path.join(run_dir, "plots", "solution.png"), dpi=100)
    plt.close(fig)
    if history:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        marker = "o" if len(history) <= 30 else None  # a few logged points are shown as points
        steps, loss, residual = ([r[k] for r in history] for k in ("epoch", "train_loss", "residual"))
        same = all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(loss, residual))  # hard conditions: one line
        ax.semilogy(steps, loss, marker=marker, ms=3, label="loss = PDE residual (hard conditions)" if same else "loss")
        if not same:
            ax.semilogy(steps, residual, marker=marker, ms=3, label="PDE residual")
        if recipe.train.lbfgs_steps and steps[-1] > recipe.train.epochs:  # where Adam hands over to L-BFGS
            ax.axvline(recipe.train.epochs, color="grey", lw=0.8, ls=":", label="L-BFGS from here")
        ax.set_xlabel("step (Adam epochs on all points, then L-BFGS iterations)")
        ax.set_ylabel("mean square (log scale)")
        ax.legend(fontsize=8, loc="upper right")  # (the losses fall from the upper left)
        fig.tight_layout()
        fig.savefig(os.path.join(run_dir, "plots", "loss.png"), dpi=100)
        plt.close(fig)
    rows = [f"| {k} | {v:.4g} | {cell(PINN_GLOSSARY.get(k, ''))} |" if isinstance(v, float) else
            f"| {k} | {cell(v)} | {cell(PINN_GLOSSARY.get(k, ''))} |" for k, v in metrics.items() if not isinstance(v, dict)]
    rows += [f"| {k} | {v:.6g} | a trained coefficient of the PDE |" for k, v in metrics["coefficients"].items()]
    verdict = (f"The PINN's relative L2 error against the reference solution is {metrics['test_rel_l2']:.3g} after "
               f"{metrics['steps']} steps ({metrics['train_seconds']:.0f} s); training stopped: {metrics['stop_reason']}.")
    text = "\n".join([f"# {recipe.name}", "", verdict, "", recipe.description, "",
                      "| metric | value | meaning |", "|---|---|---|", *rows, "",
                      "![solution](plots/solution.png) ![loss](plots/loss.png)", ""])
    with open(os.path.join(run_dir, "report.md"), "w") as fh:
        fh.write(text)
