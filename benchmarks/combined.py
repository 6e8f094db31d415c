"""Classical solvers of MP-PDE's combined equation at coarse resolution, against the 200-point
WENO5 reference: for E1, E2, E3 and n_x = 100, 50, 40, WENO5 and second-order differences (FD2)
run directly on the coarse grid from the same inputs (forcing and initial condition sampled
there). Writes the section `combined-classical` of docs/benchmarks.md; the learned solvers'
columns come with their recipes.

    python benchmarks/combined.py [--samples 16] [--rounds 3]

Metrics, each the mean over the test trajectories: the accumulated error sum_t mean_x (u - u_ref)^2
over the 249 stored steps after t = 0 (MP-PDE's metric as we read it: the squared error summed over
the rollout, normalized by the grid size), the per-step nRMSE ||u - u_ref|| / ||u_ref|| averaged over
the steps, and the seconds per trajectory (a batch of all samples solved, the median of
``--rounds`` rounds, divided by the number of samples).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _report import git_commit, machine, replace_section  # noqa: E402

from pdekit.errors import PdekitError  # noqa: E402

SCENARIOS = {
    "E1": {"alpha": 1.0, "t_final": 4.0},
    "E2": {"alpha": 1.0, "beta": 0.0, "beta_max": 0.2, "t_final": 4.0},
    "E3": {"alpha": 0.0, "alpha_max": 6.0, "beta": 0.1, "beta_max": 0.4, "gamma": 0.0, "gamma_max": 1.0,
           "t_final": 2.0},
}
SEED = 1  # the test trajectories: not the seed a training set would use


def solve(params: dict, n: int, samples: int, rounds: int) -> tuple[torch.Tensor, float]:
    """(u (samples, nt, n), seconds per trajectory) on n points."""
    from pdekit.data.generate import draw_inputs
    from pdekit.problems import get_problem

    problem = get_problem("combined_1d").from_params(n, {**params, "solve_resolution": n})
    inputs = draw_inputs(problem, SEED, range(samples))
    times, out = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        out = problem.solve(inputs)["u"]
        times.append(time.perf_counter() - start)
    return out, statistics.median(times) / samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = ["| scenario | n_x | scheme | accumulated error | mean per-step nRMSE | s per trajectory |",
            "|---|---|---|---|---|---|"]
    for name, params in SCENARIOS.items():
        reference, ref_seconds = solve(params, 200, args.samples, 1)
        rows.append(f"| {name} | 200 | WENO5 (the reference) | 0 | 0 | {ref_seconds:.3g} |")
        print(rows[-1], flush=True)
        for n in (100, 50, 40):
            truth = reference[..., :: 200 // n][:, 1:]
            for scheme in ("weno5", "fd2"):
                try:
                    u, seconds = solve({**params, "scheme": scheme}, n, args.samples, args.rounds)
                except PdekitError as err:  # a blow-up of the cheap scheme is a result, reported as such
                    when = str(err).split(" by t = ")[-1].split(":")[0]
                    rows.append(f"| {name} | {n} | {scheme.upper()} | blew up (max \\|u\\| past u_bound by t = {when}) "
                                f"| - | - |")
                    print(rows[-1], flush=True)
                    continue
                err = u[:, 1:] - truth
                accumulated = float(err.pow(2).mean(-1).sum(-1).mean())
                nrmse = float((err.norm(dim=-1) / truth.norm(dim=-1)).mean())
                rows.append(f"| {name} | {n} | {scheme.upper()} | {accumulated:.3g} | {nrmse:.3g} | {seconds:.3g} |")
                print(rows[-1], flush=True)
    text = "\n".join(rows) + (
        f"\n\n{args.samples} test trajectories per scenario (seed {SEED}), 250 stored times; the reference's "
        "time is one solve of the batch. FD2 has no dissipation at E1's shocks and blows up there. "
        f"Measured with `python benchmarks/combined.py` on {machine()}, commit {git_commit()}.")
    replace_section("docs/benchmarks.md", "combined-classical", text)
    print(text)


LEARNED = {"E1": {"n_train": 256}, "E2": {"n_train": 256}, "E3": {"n_train": 128}}


def learned(args) -> None:
    """MP-PDE and FNO (the combined_mppde and combined_fno recipes, smaller) against WENO5 and FD2 on
    the same test trajectories and the same 225 predicted steps, per scenario and n_x."""
    import json

    import numpy as np

    from pdekit.data.generate import draw_inputs
    from pdekit.pipeline import run_recipe, split_ranges
    from pdekit.problems import get_problem
    from pdekit.recipes import load_recipe

    rows = ["| scenario | n_x | solver | accumulated error | mean per-step nRMSE | s per trajectory | train s |",
            "|---|---|---|---|---|---|---|"]
    for name in args.scenarios:
        params = {**SCENARIOS[name], "nt": 250, "solve_resolution": 200}
        for n in (100, 50, 40):
            truth = None
            for model in ("mppde", "fno"):
                overrides = [f"data.resolution={n}", f"data.params={json.dumps(params)}",
                             f"data.n_train={LEARNED[name]['n_train']}", f"data.n_test={args.test}",
                             f"train.epochs={args.epochs}", "model.hidden=64" if model == "mppde" else
                             "model.hidden_channels=64"]
                recipe = load_recipe(f"combined_{model}", overrides=overrides)
                run_dir = os.path.join(args.out, f"{name}-{n}-{model}")
                metrics = run_recipe(recipe, run_dir, quiet=True)
                truth = torch.from_numpy(np.load(os.path.join(run_dir, "rollout.npz"))["true"])[:, :, 0]
                rows.append(f"| {name} | {n} | {'MP-PDE' if model == 'mppde' else 'FNO'} | "
                            f"{metrics['accumulated_error']:.3g} | {float(np.mean(metrics['rollout_nrmse'])):.3g} | "
                            f"{metrics['rollout_seconds_per_trajectory']:.3g} | {metrics['train_seconds']:.0f} |")
                print(rows[-1], flush=True)
            first, count = split_ranges(recipe.data)["test"]
            history = recipe.rollout.history
            for scheme in ("weno5", "fd2"):
                problem = get_problem("combined_1d").from_params(n, {**params, "solve_resolution": n, "scheme": scheme})
                inputs = draw_inputs(problem, recipe.data.seed, range(first, first + count))
                try:
                    seconds = []
                    for _ in range(args.rounds):
                        begin = time.perf_counter()
                        u = problem.solve(inputs)["u"][:, history:]
                        seconds.append(time.perf_counter() - begin)
                except PdekitError:
                    rows.append(f"| {name} | {n} | {scheme.upper()} | blew up | - | - | - |")
                    print(rows[-1], flush=True)
                    continue
                err = u.float() - truth
                accumulated = float(err.double().pow(2).mean(-1).sum(-1).mean())
                nrmse = float((err.norm(dim=-1) / truth.norm(dim=-1)).mean())
                rows.append(f"| {name} | {n} | {scheme.upper()} | {accumulated:.3g} | {nrmse:.3g} | "
                            f"{statistics.median(seconds) / count:.3g} | - |")
                print(rows[-1], flush=True)
    sizes = ", ".join(f"{k}: {v['n_train']}" for k, v in LEARNED.items() if k in args.scenarios)
    text = "\n".join(rows) + (
        f"\n\nScenarios {', '.join(args.scenarios)}; per scenario and n_x, {args.test} test trajectories "
        f"(the recipes' test split), errors over the 225 steps after the first 25 stored ones (the learned "
        f"solvers read those 25; the classical ones start from t = 0 with the same forcing and initial "
        f"condition, so their time covers all 249 steps). MP-PDE: `combined_mppde` with hidden 64; FNO: "
        f"`combined_fno` with hidden 64; {sizes} "
        f"training trajectories, {args.epochs} epochs, the epoch kept by the validation rollout error. "
        f"Seconds: the median of 3 (learned, batches of 32) or {args.rounds} (classical, one batch) rounds over "
        f"the trajectories. Measured with `python benchmarks/combined.py --learned` on {machine()}, "
        f"commit {git_commit()}.")
    replace_section("docs/benchmarks.md", "combined-rollout", text)
    print(text)


if __name__ == "__main__":
    if "--learned" in sys.argv:
        parser = argparse.ArgumentParser(description="learned solvers against WENO5 and FD2 (see learned())")
        parser.add_argument("--learned", action="store_true")
        parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
        parser.add_argument("--epochs", type=int, default=20)
        parser.add_argument("--test", type=int, default=32)
        parser.add_argument("--rounds", type=int, default=3)
        parser.add_argument("--out", default="runs/bench-combined")
        torch.set_num_threads(2)
        learned(parser.parse_args())
    else:
        main()
