"""Inputs recovered through a trained operator (`pdekit invert`) as the observations get sparser
and noisier, each answer checked by the solver; writes the table in docs/inverse.md.

    python benchmarks/inverse.py                 # trains darcy_fno --quick into runs/ if it is not there
    python benchmarks/inverse.py --run RUN_DIR   # another operator run
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _report import git_commit, machine, replace_section  # noqa: E402

# (noise, observed fraction, bounds): the observation settings, sparser and noisier down the table
SETTINGS = [(0.0, 1.0, True), (0.01, 1.0, True), (0.01, 0.25, True), (0.01, 0.25, False), (0.05, 0.25, True),
            (0.01, 0.05, True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="runs/darcy_fno-quick", help="an operator run folder (default: darcy_fno "
                                                                       "--quick, trained here if missing)")
    parser.add_argument("--samples", type=int, default=8, help="test (and validation) samples per setting")
    parser.add_argument("--bounds", type=float, nargs=2, default=(3.0, 12.0), help="the box of the bounded rows")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from pdekit.pipeline import invert_run, run_recipe
    from pdekit.recipes import load_recipe

    if not os.path.exists(os.path.join(args.run, "checkpoint.pt")):
        run_recipe(load_recipe("darcy_fno", quick=True), args.run, quiet=True)
    rows = ["| noise | observed | bounds | smoothness (chosen on validation) | input rel. L2 (median) | network's "
            "misfit at the observations / their noise | network's output rel. L2 | solver's output rel. L2 on the "
            "recovered (on the true inputs) | seconds |", "|---|---|---|---|---|---|---|---|---|"]
    for noise, fraction, bounded in SETTINGS:
        with tempfile.TemporaryDirectory() as out:
            r = invert_run(args.run, out, args.samples, noise, fraction, bounds=tuple(args.bounds) if bounded else None,
                           quiet=True)
        solver = (f"{r['solver_output_rel_l2']:.3g} ({r['solver_baseline_rel_l2']:.3g})" if "solver_output_rel_l2" in r
                  else r["solver_check"])
        rows.append(f"| {noise:g} | {fraction:.0%} | {'[%g, %g]' % tuple(args.bounds) if bounded else 'none'} | "
                    f"{r['smoothness']:g} | {r['input_rel_l2']:.3g} ({r['median_input_rel_l2']:.3g}) | "
                    f"{r['surrogate_misfit']:.3g} / {r['observation_noise']:.3g} | {r['surrogate_output_rel_l2']:.3g} | "
                    f"{solver} | {r['seconds']:.1f} |")
        print(rows[-1], flush=True)
    command = " ".join(["python benchmarks/inverse.py", *sys.argv[1:]])
    text = "\n".join(rows) + (
        f"\n\n{r['recipe']}, {args.samples} test samples per row (the first {args.samples} validation samples "
        f"choose the smoothness), at most 300 L-BFGS iterations; `{command}` on {machine()}, commit {git_commit()}.")
    replace_section("docs/inverse.md", "inverse-table", text)
    print(text)


if __name__ == "__main__":
    main()
