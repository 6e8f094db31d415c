"""Lie point symmetry augmentation of rollout training, over seeds: ks_rollout and burgers_rollout
(quick variants) without augmentation, with periodic shifts, and with shifts and Galilean boosts.

    python benchmarks/lie_rollouts.py [--seeds 3]     # about 50 s a run on 2 cores
    python benchmarks/lie_rollouts.py --table-only

Each run is ``pdekit run RECIPE --quick train.seed=S [train.augment=true [train.augment_boost=B]]
eval.solver_ladder=false --out runs/aug/<recipe>-<augmentation>-s<S>`` (the epoch kept by
validation); a run whose metrics.json exists is not repeated. The table (docs/rollouts.md,
section lie-rollouts) gives the validation rollout error's mean and the test trajectory error's
mean and spread over the seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

import torch

from _report import git_commit, machine, replace_section

OUT = "runs/aug"
ROWS = [("ks_rollout", "none", [], "none"),
        ("ks_rollout", "shifts", ["train.augment=true"], "shifts"),
        ("ks_rollout", "boost0.3", ["train.augment=true", "train.augment_boost=0.3"], "shifts, boosts up to 0.3"),
        ("burgers_rollout", "none", [], "none"),
        ("burgers_rollout", "shifts", ["train.augment=true"], "shifts"),
        ("burgers_rollout", "boost0.2", ["train.augment=true", "train.augment_boost=0.2"], "shifts, boosts up to 0.2")]


def run(recipe: str, name: str, overrides: list[str], seed: int) -> dict:
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe

    run_dir = os.path.join(OUT, f"{recipe}-{name}-s{seed}")
    done = os.path.join(run_dir, "metrics.json")
    if not os.path.exists(done):
        run_recipe(load_recipe(recipe, quick=True, overrides=[f"train.seed={seed}", *overrides,
                                                               "eval.solver_ladder=false"]), run_dir, quiet=True)
    return json.load(open(done))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    lines = ["| recipe | augmentation | seeds | validation rollout rel. L2, mean | test trajectory rel. L2, mean (min-max) |",
             "|---|---|---|---|---|"]
    for recipe, name, overrides, label in ROWS:
        runs = []
        for seed in range(args.seeds):
            if args.table_only and not os.path.exists(os.path.join(OUT, f"{recipe}-{name}-s{seed}", "metrics.json")):
                continue
            runs.append(run(recipe, name, overrides, seed))
        if not runs:
            continue
        val = statistics.mean(m["val_rollout_rel_l2"] for m in runs)
        test = [m["trajectory_rel_l2"] for m in runs]
        lines.append(f"| {recipe} | {label} | {len(runs)} | {val:.4f} | "
                     f"{statistics.mean(test):.4f} ({min(test):.4f}-{max(test):.4f}) |")
    note = (f"\n\nMeasured with `python benchmarks/lie_rollouts.py --seeds {args.seeds}` at commit {git_commit()} "
            f"on {machine()}.")
    replace_section("docs/rollouts.md", "lie-rollouts", "\n".join(lines) + note)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
