"""Run every solver's convergence study and write the table in docs/solvers.md.

    python benchmarks/convergence.py
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from _report import git_commit, machine, replace_section

from pdekit import verification as v


def main() -> None:
    torch.set_num_threads(2)
    solved: dict = {}

    def obstacle(field):  # one set of solves for the three fields' rows
        if not solved:
            solved.update(v.obstacle_fields())
        return solved[field]

    studies = [
        ("heat_1d: u0 = 1/(1.5 + cos 2 pi x), exact Fourier solution, t in [0, 1]", lambda: v.heat_space(1)),
        ("heat_2d: product of the 1D case", lambda: v.heat_space(2)),
        ("burgers_1d: Cole-Hopf, nu = 0.05, t in [0, 0.5], dt = 1e-3", v.burgers_space),
        ("burgers_1d: Cole-Hopf, n = 256, steps per 0.25 time units", v.burgers_time),
        ("navier_stokes_2d: forced, nu = 1e-3, t = 1, n = 64, against 640 steps", v.navier_stokes_time),
        ("navier_stokes_2d: forced, nu = 1e-3, t = 1, against n = 96", v.navier_stokes_space),
        ("darcy_2d: manufactured u = sin(pi x) sin(2 pi y), a = 2 + sin(2 pi x) cos(3 pi y)", v.darcy_smooth),
        ("darcy_2d: manufactured, a = 3 for x < 1/2, 12 beyond, interface midway between nodes", v.darcy_piecewise),
        ("darcy_2d: manufactured, a = 3 for x < 1/2, 3e6 beyond, interface midway between nodes",
         lambda: v.darcy_piecewise(a2=3e6)),
        ("darcy_2d: manufactured, a = 3 for x < 1/2, 12 beyond, interface through nodes",
         lambda: v.darcy_piecewise(sizes=(17, 33, 65, 129, 257))),
        ("darcy_tensor_2d: manufactured u = exp(x) sin(pi x) sin(2 pi y), full smooth K", v.darcy_tensor_smooth),
        ("kuramoto_sivashinsky_1d: from a state on the attractor, n = 64, against 16x the finest steps", v.ks_time),
        ("kuramoto_sivashinsky_1d: smooth state, dt = 0.01, against n = 384", v.ks_space),
        ("allen_cahn_1d: u0 = x^2 cos(pi x), eps = 1e-4, n = 512, against 16x the finest steps", v.allen_cahn_time),
        ("allen_cahn_1d: same case, dt = 1e-3, against n = 4096", v.allen_cahn_space),
        ("advection_1d: two sines, exact u0(x - beta t)", v.advection_exact),
        ("diffusion_reaction_1d: constant u0 = 0.1, exact logistic solution, t = 1", v.diffusion_reaction_time),
        ("diffusion_reaction_1d: smooth u0, against n = 256", v.diffusion_reaction_space),
        ("kdv_1d: soliton, c = 1, L = 128, n = 512, steps to t = 10", v.kdv_time),
        ("kdv_1d: soliton, c = 1, L = 128, dt = 0.01", v.kdv_space),
        ("wave_2d: two Fourier modes, exact solution, n = 16, steps to t = 1", v.wave_time),
        ("wave_2d: same case, largest relative energy deviation over the run", v.wave_energy),
        ("cavity_2d: manufactured steady flow, Re = 50, cells per side, velocity (max norm)",
         v.cavity_manufactured),
        ("cavity_2d: same flow, pressure (root mean square)", lambda: v.cavity_manufactured(quantity="pressure")),
        ("combined_1d: alpha = 1, beta = 0.1, forced, t = 1, WENO5, against n = 800 (same dt)", v.combined_space),
        ("combined_1d: same case, n = 100, steps to t = 1, against 16x the finest", v.combined_time),
        ("poisson_lshape (PINN reference): five-point FD, cells per unit length, against 256 (max norm)",
         v.poisson_lshape_reference),
        ("poisson_lshape: same, relative L2", lambda: v.poisson_lshape_reference(norm="l2")),
        ("obstacle_2d: 2 drawn polygons, Re = 20, stored u on 161 x 33 nodes, against mesh_size 0.012 (relative L2)",
         lambda: obstacle("u")),
        ("obstacle_2d: same, v", lambda: obstacle("v")),
        ("obstacle_2d: same, p (singular at the corners)", lambda: obstacle("p")),
    ]
    rows = ["| study | refined in | sizes | max error | observed order |", "|---|---|---|---|---|"]
    for label, study in studies:
        start = time.perf_counter()
        r = study()
        if r["order"] is not None:
            order = f"{r['order']:.2f}"
        else:
            order = "exact to rounding" if max(r["errors"]) < 1e-13 else "spectral (exponential)"
        errors = ", ".join(f"{e:.1e}" for e in r["errors"])
        sizes = ", ".join(map(str, r["sizes"]))
        rows.append(f"| {label} | {r['kind']} | {sizes} | {errors} | {order} |")
        print(rows[-1], f"({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    tg = v.navier_stokes_taylor_green()
    text = "\n".join(rows) + (
        f"\n\nTaylor-Green vortex (unforced, nu = 1e-2, n = 32, dt = 0.05, t = 2): max error {tg:.1e}, "
        "exact to rounding since its advection vanishes and ETDRK4 integrates the viscous term exactly."
        f"\n\nMeasured with `python benchmarks/convergence.py` on {machine()}, commit {git_commit()}."
    )
    replace_section("docs/solvers.md", "convergence", text)
    print(text)


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
