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


if __name__ == "__main__":
    main()
