"""Classical solvers of MP-PDE's combined equation at coarse resolution, against the 200-point
WENO5 reference: for E1, E2, E3 and n_x = 100, 50, 40, WENO5 and second-order differences (FD2)
run directly on the coarse grid from the same inputs (forcing and initial condition sampled
there). Writes the section `combined-classical` of docs/benchmarks.md.

    python benchmarks/combined.py [--samples 16] [--rounds 3]

With --learned, MP-PDE and an FNO (the combined_mppde and combined_fno recipes at a size for 2 CPU
cores) are trained per scenario and n_x, then scored with WENO5 and FD2 on their test trajectories
and timed against them in alternating rounds: the section `combined-rollout`. --table-only reuses
trained runs (the data cache must be the one they were trained with, $PDEKIT_DATA).

    python benchmarks/combined.py --learned [--scenarios E1 E2 E3] [--epochs 20] [--out DIR]

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
           "t_final": 2.0, "u_bound": 8.0},  # some E3 trajectories pass |u| = 5
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


# E3's solves cost about 30x E1's (the dispersion's step): fewer trajectories
LEARNED = {"E1": {"n_train": 256, "resolutions": (100, 50, 40)}, "E2": {"n_train": 256, "resolutions": (100, 50, 40)},
           "E3": {"n_train": 64, "resolutions": (100, 50, 40)}}
MODELS = {"mppde": "MP-PDE", "fno": "FNO"}


def _params(name: str) -> dict:
    return {**SCENARIOS[name], "nt": 250, "solve_resolution": 200}


def train(args) -> None:
    """MP-PDE and FNO (the combined_mppde and combined_fno recipes, smaller) per scenario and n_x;
    a finished run folder is reused."""
    import json

    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe

    for name in args.scenarios:
        for n in LEARNED[name]["resolutions"]:
            for model in MODELS:
                run_dir = os.path.join(args.out, f"{name}-{n}-{model}")
                if os.path.exists(os.path.join(run_dir, "metrics.json")):
                    continue
                overrides = [f"data.resolution={n}", f"data.params={json.dumps(_params(name))}",
                             f"data.n_train={LEARNED[name]['n_train']}", f"data.n_test={args.test}",
                             f"train.epochs={args.epochs}", "model.hidden=64" if model == "mppde" else
                             "model.hidden_channels=64"]
                run_recipe(load_recipe(f"combined_{model}", overrides=overrides), run_dir, quiet=True)
                print(f"trained {run_dir}", flush=True)


def table(args) -> None:
    """The learned runs and WENO5 / FD2 on the same test trajectories and the same 225 predicted
    steps: accuracy, and seconds per trajectory from alternating timing rounds in this process."""
    import json

    import numpy as np

    from pdekit.data.generate import draw_inputs
    from pdekit.data.trajectories import load_trajectories
    from pdekit.pipeline import RolloutRunner, prepare_data, split_ranges
    from pdekit.problems import get_problem
    from pdekit.recipes import load_saved_recipe
    from pdekit.train.checkpoint import load_checkpoint

    rows = ["| scenario | n_x | solver | accumulated error | mean per-step nRMSE | s per trajectory | train s |",
            "|---|---|---|---|---|---|---|"]
    for name in args.scenarios:
        for n in LEARNED[name]["resolutions"]:
            entries, runs = [], {}
            for model in MODELS:
                run_dir = os.path.join(args.out, f"{name}-{n}-{model}")
                state = load_checkpoint(os.path.join(run_dir, "checkpoint.pt"))
                recipe = load_saved_recipe(json.loads(state["recipe"]))  # (recorded under older rules too)
                net = RolloutRunner._model(recipe, state["channels"], state["ndim"], state["dt"], state.get("cond_log", ()))
                net.load_state_dict(state["best_model" if "best_model" in state else "model"])
                metrics = json.load(open(os.path.join(run_dir, "metrics.json")))
                saved = np.load(os.path.join(run_dir, "rollout.npz"))
                runs[model] = (net.eval(), recipe, metrics, torch.from_numpy(saved["true"]))
            recipe, truth = runs["mppde"][1], runs["mppde"][3][:, :, 0]
            first, count = split_ranges(recipe.data)["test"]
            history = recipe.rollout.history
            start = None  # the stored first 25 steps of the test trajectories, at n points
            for model, (net, _, metrics, true) in runs.items():
                if start is None:
                    u, _, meta = load_trajectories(prepare_data(recipe, quiet=True)["test"])
                    start, cond = u[:, :history], RolloutRunner._cond(recipe, meta)[0]  # E2, E3: per-sample parameters
                    assert torch.equal(u[:, history:], true), "the run's truth is not the test split"

                def rollout(net=net):
                    with torch.no_grad():
                        return net.rollout(start, 250 - history, cond=cond)

                entries.append((MODELS[model], rollout, metrics))
            for scheme in ("weno5", "fd2"):
                problem = get_problem("combined_1d").from_params(n, {**_params(name), "solve_resolution": n,
                                                                     "scheme": scheme})
                inputs = draw_inputs(problem, recipe.data.seed, range(first, first + count))

                def solve(problem=problem, inputs=inputs):
                    return problem.solve(inputs)["u"][:, history:]

                try:
                    u = solve()
                except PdekitError:
                    entries.append((scheme.upper(), None, None))
                    continue
                err = u.float() - truth
                entries.append((scheme.upper(), solve, {"accumulated_error": float(err.double().pow(2).mean(-1).sum(-1).mean()),
                                                        "nrmse": float((err.norm(dim=-1) / truth.norm(dim=-1)).mean())}))
            timed = [e for e in entries if e[1] is not None]
            seconds = {label: [] for label, _, _ in timed}
            for _ in range(args.rounds):  # alternating rounds: every solver once per round
                for label, fn, _ in timed:
                    begin = time.perf_counter()
                    fn()
                    seconds[label].append(time.perf_counter() - begin)
            for label, fn, m in entries:
                if fn is None:
                    rows.append(f"| {name} | {n} | {label} | blew up | - | - | - |")
                else:
                    nrmse = m["nrmse"] if "nrmse" in m else float(np.mean(m["rollout_nrmse"]))
                    train_s = f"{m['train_seconds']:.0f}" if "train_seconds" in m else "-"
                    rows.append(f"| {name} | {n} | {label} | {m['accumulated_error']:.3g} | {nrmse:.3g} | "
                                f"{statistics.median(seconds[label]) / count:.3g} | {train_s} |")
                print(rows[-1], flush=True)
    sizes = ", ".join(f"{k}: {v['n_train']}" for k, v in LEARNED.items() if k in args.scenarios)
    e3 = (" E3 with u_bound 8 (some of its trajectories pass |u| = 5) and fewer trajectories, its solves "
          "costing about 30x E1's." if "E3" in args.scenarios else "")
    text = "\n".join(rows) + (
        f"\n\nScenarios {', '.join(args.scenarios)}; per scenario and n_x, {args.test} test trajectories "
        f"(the recipes' test split), errors over the 225 steps after the first 25 stored ones (the learned "
        f"solvers read those 25; the classical ones start from t = 0 with the same forcing and initial "
        f"condition, so their time covers all 249 steps). MP-PDE: `combined_mppde` with hidden 64; FNO: "
        f"`combined_fno` with hidden 64; {sizes} training trajectories, {args.epochs} epochs, the recipes' "
        f"learning rates (1e-4 for MP-PDE, the paper's; 1e-3 for the FNO), the epoch kept by the validation "
        f"rollout error.{e3} Seconds per trajectory: all test trajectories in one batch, the median of "
        f"{args.rounds} alternating rounds of every solver in one process (2 threads). Measured with "
        f"`python benchmarks/combined.py --learned` on {machine()}, commit {git_commit()}.")
    replace_section("docs/benchmarks.md", "combined-rollout", text)
    print(text)


if __name__ == "__main__":
    if "--learned" in sys.argv:
        parser = argparse.ArgumentParser(description="learned solvers against WENO5 and FD2 (see train() and table())")
        parser.add_argument("--learned", action="store_true")
        parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
        parser.add_argument("--epochs", type=int, default=20)
        parser.add_argument("--test", type=int, default=32)
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument("--out", default="runs/bench-combined")
        parser.add_argument("--table-only", action="store_true", help="reuse the trained runs, time and tabulate")
        torch.set_num_threads(2)
        args = parser.parse_args()
        if not args.table_only:
            train(args)
        table(args)
    else:
        main()
