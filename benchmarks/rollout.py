"""Rollout training modes and targets (or models) on one recipe, chosen on validation and reported
on test.

    python benchmarks/rollout.py [--full] [--models | --conditioning] [--set KEY=VALUE ...] [RECIPE]
                                                      (default ks_rollout, its quick variant)

With --models the recipe's own settings train an FNO and a U-Net instead (section
`rollout-models-RECIPE`); with --conditioning (a recipe whose data draw parameters per sample,
burgers_rollout, or ks_rollout with --set data.params.length_max=44) the FNO and the U-Net each
with the parameters as input channels, through the U-Net's embedding, and without them (section
`rollout-conditioning-RECIPE`). --set overrides the recipe for every variant (named in the caption
and in the section: `...-RECIPE-quick-set-KEY=VALUE`).

Each variant (target: state or derivative; mode: one_step, unrolled or pushforward) trains the
recipe from scratch; the table gives the validation rollout error (what a choice is made on), the
test rollout errors at 10, 50 and 100 steps, the whole-trajectory error, the correlation time and
the training time, and marks the variant the validation error chooses. It replaces the section
`rollout-modes-RECIPE` of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _report import git_commit, machine, replace_section  # noqa: E402

VARIANTS = [
    ("state", "one_step", 1), ("state", "unrolled", 2), ("state", "pushforward", 2),
    ("derivative", "one_step", 1), ("derivative", "unrolled", 2), ("derivative", "pushforward", 2),
]


MODELS = [("fno", []), ("unet, zero padding", ["model={name: unet, hidden: 32, padding_mode: zeros}"]),
          ("unet, circular padding", ["model={name: unet, hidden: 32, padding_mode: circular}"])]

UNET = "model={name: unet, hidden: 32, padding_mode: circular}"
CONDITIONING = [("fno", "channels", []), ("fno", "none", []), ("unet", "embedding", [UNET]),
                ("unet", "channels", [UNET]), ("unet", "none", [UNET])]


def run_variant(recipe_name: str, quick: bool, overrides: list[str], label: str) -> dict:
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe

    recipe = load_recipe(recipe_name, quick=quick, overrides=overrides)
    folder = os.path.join("runs", "bench-rollout", f"{recipe.name}-{label}")
    shutil.rmtree(folder, ignore_errors=True)
    return run_recipe(recipe, folder, quiet=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", nargs="?", default="ks_rollout")
    parser.add_argument("--full", action="store_true", help="the recipe as shipped (default: its quick variant)")
    parser.add_argument("--models", action="store_true", help="compare models at the recipe's own settings")
    parser.add_argument("--conditioning", action="store_true", help="compare ways of feeding per-sample parameters")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a recipe override applied to every variant")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads, for training and timing alike")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)  # set explicitly: the timings' ratios depend on it
    args.threads_override = f"train.threads={args.threads}"  # (not in args.set, which names the section)
    if args.models:
        compare_models(args)
        return
    if args.conditioning:
        compare_conditioning(args)
        return
    variants = []
    for target, mode, unroll in VARIANTS:
        overrides = [f"rollout.target={target}", "rollout.integrator=euler", f"train.mode={mode}",
                     f"train.unroll={unroll}"]
        variants.append((f"{target}-{mode}", overrides, lambda m, target=target, mode=mode, unroll=unroll: [
            target, f"{mode}{'' if unroll == 1 else f' ({unroll})'}", f"{m['val_rollout_rel_l2']:.4f}",
            f"{m['trajectory_rel_l2']:.4f}", _at_steps(m),
            "beyond" if m["correlation_time"] is None else f"{m['correlation_time']:g}", f"{m['train_seconds']:.0f}"]))
    _run_table(args, "rollout-modes", variants,
               ["target", "mode (unroll)", "validation rollout rel. L2", "test trajectory rel. L2",
                "test rel. L2 at step 10 / 50 / 100", "correlation time", "train s"],
               ", Euler for the derivative target")


def _run_table(args, section: str, variants: list, columns: list, caption: str) -> None:
    """Train each (label, overrides, cells) variant; cells(metrics) gives its row's cells."""
    rows = []
    for label, overrides, cells in variants:
        m = run_variant(args.recipe, not args.full, [args.threads_override, *args.set, *overrides], label)
        rows.append((m["val_rollout_rel_l2"], "| " + " | ".join(cells(m)) + " |"))
        print(rows[-1][1], flush=True)
    _write_table(args, section, rows, columns, caption)


def _at_steps(m: dict) -> str:
    """The test relative L2 at steps 10, 50 and 100 ("-" past the horizon)."""
    rel = m["rollout_rel_l2"]
    return " / ".join(f"{rel[s - 1]:.3g}" if s <= len(rel) else "-" for s in (10, 50, 100))


def _write_table(args, section: str, rows: list, columns: list, caption: str) -> None:
    """A table of (validation error, row) with the row of lowest validation error marked chosen, as
    the section SECTION-RECIPE of docs/benchmarks.md."""
    best = min(range(len(rows)), key=lambda i: rows[i][0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += [row.replace("| ", "| **chosen** ", 1) if i == best else row for i, (_, row) in enumerate(rows)]
    name = f"{args.recipe}{'' if args.full else '-quick'}"
    changed = f" with {', '.join(args.set)}" if args.set else ""
    lines += ["", f"{name}{changed}{caption}; machine: {machine()}, commit {git_commit()}."]
    section = f"{section}-{name}" + "".join(f"-set-{change}" for change in args.set)  # a variant keeps its own
    replace_section("docs/benchmarks.md", section, "\n".join(lines))


def compare_models(args) -> None:
    """The recipe's settings with each model of MODELS: validation, test and the solver verdict."""
    variants = [(name.replace(", ", "-").replace(" ", "-"), overrides, lambda m, name=name: [
        name, f"{m['params']:,}", f"{m['val_rollout_rel_l2']:.4f}", f"{m['trajectory_rel_l2']:.4f}", _at_steps(m),
        f"{m['train_seconds']:.0f}", f"{1e3 * m['model_seconds_per_sample']:.1f}",
        "-" if m.get("speedup") is None else f"{m['speedup']:.3g}x"]) for name, overrides in MODELS]
    _run_table(args, "rollout-models", variants,
               ["model", "parameters", "validation rollout rel. L2", "test trajectory rel. L2",
                "test rel. L2 at step 10 / 50 / 100", "train s", "ms per rollout",
                "surrogate speed-up at equal accuracy"],
               " as shipped (target, mode) with each model")


def compare_conditioning(args) -> None:
    """The recipe's settings with each (model, conditioning) of CONDITIONING."""
    variants = [(f"{name}-{how}", [f"rollout.conditioning={how}", *overrides], lambda m, name=name, how=how: [
        name, how, f"{m['params']:,}", f"{m['val_rollout_rel_l2']:.4f}", f"{m['trajectory_rel_l2']:.4f}",
        _at_steps(m), f"{m['train_seconds']:.0f}"]) for name, how, overrides in CONDITIONING]
    _run_table(args, "rollout-conditioning", variants,
               ["model", "per-sample parameters as", "parameters", "validation rollout rel. L2",
                "test trajectory rel. L2", "test rel. L2 at step 10 / 50 / 100", "train s"],
               " as shipped (target, mode), the per-sample parameters fed to the model in each way")


if __name__ == "__main__":
    main()
