"""Run every solver's convergence study and write the table in docs/solvers.md.

    python benchmarks/convergence.py
"""

from __future__ import annotations

import sys
import time

import torch

from _report import machine, replace_section

from pdekit import verification as v


def main() -> None:
    torch.set_num_threads(2)
    studies = [
        ("heat_1d: u0 = 1/(1.5 + cos 2 pi x), exact Fourier solution, t in [0, 1]", lambda: v.heat_space(1)),
        ("heat_2d: product of the 1D case", lambda: v.heat_space(2)),
        ("burgers_1d: Cole-Hopf, nu = 0.05, t in [0, 0.5], dt = 1e-3", v.burgers_space),
        ("burgers_1d: Cole-Hopf, n = 256, steps per 0.25 time units", v.burgers_time),
        ("navier_stokes_2d: forced, nu = 1e-3, t = 1, n = 64, against 640 steps", v.navier_stokes_time),
        ("navier_stokes_2d: forced, nu = 1e-3, t = 1, against n = 96", v.navier_stokes_space),
        ("darcy_2d: manufactured u = sin(pi x) sin(2 pi y), a = 2 + sin(2 pi x) cos(3 pi y)", v.darcy_smooth),
        ("darcy_2d: manufactured, a = 3 for x < 1/2, 12 beyond", v.darcy_piecewise),
        ("darcy_2d: manufactured, a = 3 for x < 1/2, 3e6 beyond",
         lambda: v.darcy_piecewise(a2=3e6)),
    ]
    rows = ["| study | refined in | sizes | max error | observed order |", "|---|---|---|---|---|"]
    for label, study in studies:
        start = time.perf_counter()
        r = study()
        order = f"{r['order']:.2f}" if r["order"] is not None else "spectral (exponential)"
        errors = ", ".join(f"{e:.1e}" for e in r["errors"])
        sizes = ", ".join(map(str, r["sizes"]))
        rows.append(f"| {label} | {r['kind']} | {sizes} | {errors} | {order} |")
        print(rows[-1], f"({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    tg = v.navier_stokes_taylor_green()
    text = "\n".join(rows) + (
        f"\n\nTaylor-Green vortex (unforced, nu = 1e-2, n = 32, dt = 0.05, t = 2): max error {tg:.1e}, "
        "exact to rounding since its advection vanishes and ETDRK4 integrates the viscous term exactly."
        f"\n\nMeasured with `python benchmarks/convergence.py` on {machine()}."
    )
    replace_section("docs/solvers.md", "convergence", text)
    print(text)


if __name__ == "__main__":
    main()
