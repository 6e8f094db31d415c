"""PINN recipes (``kind: pinn``): sections ``problem`` (a benchmark of pinn/problems.py and its
parameters), ``network`` and ``train`` (PinnTrainConfig), plus ``quick``. ``pdekit run`` trains,
evaluates against the reference and writes metrics.json, prediction.npz, metrics.csv, a checkpoint
and report.md with plots; ``evaluate_pinn_run`` evaluates a run folder's checkpoint again."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass

import numpy as np

from pdekit.errors import ConfigError, DataFileError
from pdekit.paths import write_json

TOP_KEYS = ("name", "description", "kind", "problem", "network", "train", "quick")


@dataclass(frozen=True)
class PinnRecipe:
    name: str
    description: str
    problem: dict
    network: dict
    train: object  # PinnTrainConfig
    raw: dict

    def to_json(self) -> str:
        return json.dumps(self.raw, sort_keys=True)


def load_pinn_recipe(raw: dict, quick: bool = False, overrides: list[str] | None = None) -> PinnRecipe:
    from pdekit.pinn.problems import build_benchmark
    from pdekit.pinn.trainer import make_train_config
    from pdekit.recipes import apply_quick_and_overrides

    raw = copy.deepcopy(raw)
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise ConfigError(f"unknown PINN recipe key '{unknown[0]}'; allowed: {', '.join(TOP_KEYS)}")
    apply_quick_and_overrides(raw, quick, overrides, TOP_KEYS)
    for section in ("problem", "network", "train"):
        if not isinstance(raw.get(section) or {}, dict):
            raise ConfigError(f"PINN recipe section '{section}' must be a mapping")
    train = make_train_config(raw.get("train") or {})
    build_benchmark(raw.get("problem") or {}, raw.get("network") or {})  # validates problem and network now
    raw["train"] = dataclasses.asdict(train)
    return PinnRecipe(str(raw["name"]), str(raw.get("description", "")), dict(raw.get("problem") or {}),
                      dict(raw.get("network") or {}), train, raw)


def run_pinn(recipe: PinnRecipe, run_dir: str, quiet: bool = False) -> dict:
    from pdekit.pinn.problems import build_benchmark
    from pdekit.pinn.trainer import train_pinn

    bench = build_benchmark(recipe.problem, recipe.network)
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "recipe.json"), "w") as fh:
        json.dump(recipe.raw, fh, indent=2, sort_keys=True)
    result = train_pinn(bench.pinn, recipe.train, run_dir, quiet=quiet, identity=recipe.to_json())
    metrics, u = _metrics(bench, recipe, result)
    write_json(os.path.join(run_dir, "metrics.json"), metrics)
    np.savez(os.path.join(run_dir, "prediction.npz"), **bench.grid, u=u, reference=bench.reference)
    _report(run_dir, recipe, metrics, bench, u, result["history"])
    return metrics


def is_pinn_run(run_dir: str) -> bool:
    """Whether ``run_dir`` is the folder of a PINN run (its recipe.json says ``kind: pinn``)."""
    try:
        with open(os.path.join(run_dir, "recipe.json")) as fh:
            return json.load(fh).get("kind") == "pinn"
    except (OSError, ValueError, AttributeError):
        return False


def evaluate_pinn_run(run_dir: str, json_out: str | None = None, report_dir: str | None = None) -> dict:
    """The metrics of a PINN run folder's checkpoint against the reference, as ``pdekit run`` wrote
    them, without training. Writes nothing but ``json_out`` (the metrics) and ``report_dir`` (report.md
    and plots), each only when given: the run folder is left as it is."""
    from pdekit.pinn.problems import build_benchmark
    from pdekit.pinn.trainer import checkpoint_setup, restore_pinn
    from pdekit.train.checkpoint import load_checkpoint

    path = os.path.join(run_dir, "checkpoint.pt")
    saved = load_checkpoint(path)
    setup = checkpoint_setup(saved, path)
    if setup.get("kind") != "pinn":
        raise DataFileError(f"'{path}' is not the checkpoint of a PINN run")
    recipe = load_pinn_recipe(setup)
    bench = build_benchmark(recipe.problem, recipe.network)
    result = restore_pinn(bench.pinn, saved, recipe.train)
    metrics, u = _metrics(bench, recipe, result)
    if json_out:
        write_json(json_out, metrics)
    if report_dir:
        _report(report_dir, recipe, metrics, bench, u, result["history"])
    return metrics


def _metrics(bench, recipe: PinnRecipe, result: dict) -> tuple[dict, np.ndarray]:
    """(metrics, prediction on the reference grid) of the trained bench.pinn; ``result``: train_pinn's."""
    metrics, u = bench.evaluate()
    metrics.update({
        "train_seconds": result["seconds"], "steps": result["steps"], "stop_reason": result["stop_reason"],
        "adam_steps_per_second": result["adam_steps_per_second"], "final_loss": result["loss"],
        "params": sum(p.numel() for p in bench.pinn.parameters()), "recipe": recipe.name,
        "coefficients": result["coefficients"],
    })
    return metrics, u


PINN_GLOSSARY = {
    "test_rel_l2": "||u_PINN - u_ref|| / ||u_ref|| over the reference grid",
    "max_error": "largest |u_PINN - u_ref| on the reference grid",
    "train_seconds": "training wall time",
    "steps": "optimizer steps, Adam then L-BFGS",
    "stop_reason": "why training ended",
    "adam_steps_per_second": "Adam iterations per second of the Adam phase",
    "final_loss": "weighted sum of the mean square residual and condition misfits at the end",
    "params": "trainable parameters",
    "recipe": "recipe name",
    "nu": "the recovered viscosity (inverse problem)",
    "nu_true": "the viscosity that made the observations",
    "nu_rel_error": "|nu - nu_true| / nu_true",
}


def _report(run_dir, recipe, metrics, bench, u, history):
    """report.md and plots/ in ``run_dir`` (the run folder, or any folder for a later evaluation)."""
    from pdekit.eval.report import _pyplot

    plt = _pyplot()
    os.makedirs(os.path.join(run_dir, "plots"), exist_ok=True)
    (a, b), ref = list(bench.grid.values())[:2], bench.reference
    names = list(bench.grid)[:2]  # the image's columns and rows: x and t (or y)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    extent = [a.min(), a.max(), b.min(), b.max()]
    for ax, field, title in zip(axes, (u, ref, np.abs(u - ref)), ("PINN", "reference", "|error|")):
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
        ax.semilogy([r["step"] for r in history], [r["loss"] for r in history], marker=marker, ms=3, label="loss")
        ax.semilogy([r["step"] for r in history], [r["residual"] for r in history], marker=marker, ms=3,
                    label="PDE residual")
        ax.set_xlabel("step (Adam, then L-BFGS)")
        ax.set_ylabel("mean square (log scale)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(run_dir, "plots", "loss.png"), dpi=100)
        plt.close(fig)
    rows = [f"| {k} | {v:.4g} | {PINN_GLOSSARY.get(k, '')} |" if isinstance(v, float) else
            f"| {k} | {v} | {PINN_GLOSSARY.get(k, '')} |" for k, v in metrics.items() if not isinstance(v, dict)]
    rows += [f"| {k} | {v:.6g} | a trained coefficient of the PDE |" for k, v in metrics["coefficients"].items()]
    verdict = (f"The PINN's relative L2 error against the reference solution is {metrics['test_rel_l2']:.3g} after "
               f"{metrics['steps']} steps ({metrics['train_seconds']:.0f} s); training stopped: {metrics['stop_reason']}.")
    text = "\n".join([f"# {recipe.name}", "", verdict, "", recipe.description, "",
                      "| metric | value | meaning |", "|---|---|---|", *rows, "",
                      "![solution](plots/solution.png) ![loss](plots/loss.png)", ""])
    with open(os.path.join(run_dir, "report.md"), "w") as fh:
        fh.write(text)
