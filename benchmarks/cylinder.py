"""Flow past a cylinder against the Schafer-Turek (1996) benchmark: the steady case 2D-1 (Re = 20:
c_D, c_L, dp) on three meshes, and the unsteady case 2D-2 (Re = 100: maximum c_D and c_L, Strouhal
number) on one; writes the sections `cylinder-2d1` and `cylinder-2d2` of docs/solvers.md and
runs/bench-cylinder/lift.png.

    python benchmarks/cylinder.py [--skip-unsteady] [--spinup 4] [--measure 3.5] [--dt 0.005]

The unsteady run spins the flow up from the Stokes solution with dt = 0.01 to t = spinup (the
shedding saturates by t = 3.5 on this mesh), then continues with ``--dt`` for ``--measure`` more
seconds, over whose second half the maxima and the period are read (the amplitude takes about
1.5 s to settle after the change of step).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _report import git_commit, machine, replace_section  # noqa: E402

C_D, C_L, DP = 5.57953523384, 0.010618948146, 0.11752016697
MESHES = ((0.01, 0.04), (0.005, 0.03), (0.0025, 0.02))


def steady_rows() -> tuple[list[str], list[float]]:
    """The table's rows and each mesh's c_D relative error."""
    from pdekit.numerics.channel_flow import ChannelFlow, Obstacle

    rows, errors = [], []
    for h_near, h_far in MESHES:
        start = time.perf_counter()
        flow = ChannelFlow(Obstacle.circle((0.2, 0.2), 0.05), h_near, h_far)
        state = flow.steady(1e-3, 0.3)
        c_d, c_l = flow.coefficients(state)
        dp = flow.pressure_at_vertex(state, 0.15, 0.2) - flow.pressure_at_vertex(state, 0.25, 0.2)
        seconds = time.perf_counter() - start
        rows.append(f"| {h_near:g} / {h_far:g} | {flow.mesh.nelements} | {flow.dofs} | {c_d:.6f} ({c_d / C_D - 1:+.1e}) | "
                    f"{c_l:.6f} ({c_l / C_L - 1:+.1e}) | {dp:.6f} ({dp / DP - 1:+.1e}) | {state.newton_steps} | "
                    f"{seconds:.1f} |")
        errors.append(abs(c_d / C_D - 1))
        print(rows[-1], flush=True)
    return rows, errors


def unsteady(h_near: float, h_far: float, spinup: float, measure: float, dt: float) -> tuple[dict, dict, int, float]:
    from pdekit.numerics.channel_flow import ChannelFlow, Obstacle, shedding

    start = time.perf_counter()
    flow = ChannelFlow(Obstacle.circle((0.2, 0.2), 0.05), h_near, h_far)
    print(f"2D-2 on {flow.mesh.nelements} triangles ({flow.dofs} unknowns): spin-up to t = {spinup} with dt = 0.01",
          flush=True)
    first = flow.unsteady(1e-3, 1.5, spinup, 0.01, progress=True)
    print(f"measuring for {measure} s with dt = {dt}", flush=True)
    second = flow.unsteady(1e-3, 1.5, measure, dt, start=first["state"], progress=True)
    second["t"] = second["t"] + spinup
    history = {k: np.concatenate([first[k], second[k]]) for k in ("t", "c_d", "c_l")}
    return history, shedding(second, spinup + measure / 2), flow.dofs, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-unsteady", action="store_true")
    parser.add_argument("--spinup", type=float, default=4.0)
    parser.add_argument("--measure", type=float, default=3.5)
    parser.add_argument("--dt", type=float, default=0.005)
    args = parser.parse_args()
    torch.set_num_threads(2)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    rows, errors = steady_rows()
    cuts = " and ".join(f"{a / b:.1f}x" for a, b in zip(errors, errors[1:]))
    text = "\n".join([
        "| h on the cylinder / far | triangles | unknowns | c_D (relative error) | c_L (relative error) | "
        "dp (relative error) | Newton steps | mesh + solve s |",
        "|---|---|---|---|---|---|---|---|", *rows]) + (
        f"\n\nReference (Schafer and Turek 1996, case 2D-1, Re = 20): c_D = {C_D}, c_L = {C_L}, dp = {DP}. "
        "P2-P1 Taylor-Hood elements with curved edges on the cylinder; forces from the momentum residual tested "
        f"with e_x and e_y on the cylinder. Halving the mesh near the cylinder cuts the c_D error by {cuts}. "
        f"Measured with `python benchmarks/cylinder.py` on {machine()}, commit {git_commit()}.")
    replace_section("docs/solvers.md", "cylinder-2d1", text)
    print(text)
    if args.skip_unsteady:
        return
    h_near, h_far = MESHES[1]
    history, out, dofs, seconds = unsteady(h_near, h_far, args.spinup, args.measure, args.dt)
    text = "\n".join([
        "| quantity | pdekit | reference range |", "|---|---|---|",
        f"| c_D,max | {out['c_d_max']:.4f} | 3.22 - 3.24 |",
        f"| c_L,max | {out['c_l_max']:.4f} | 0.99 - 1.01 |",
        f"| Strouhal number D f / Ubar | {out['strouhal']:.4f} | 0.295 - 0.305 |"]) + (
        f"\n\nCase 2D-2 (Re = 100, peak inflow 1.5) on the {h_near:g} / {h_far:g} mesh ({dofs} unknowns): BDF2 "
        f"with the convecting velocity extrapolated, spun up from the Stokes flow with dt = 0.01 to t = "
        f"{args.spinup:g}, then dt = {args.dt:g} for {args.measure:g} s; maxima and the lift period (upward zero "
        f"crossings) over the last {out['periods']} periods. {seconds / 60:.1f} minutes in all. Measured with "
        f"`python benchmarks/cylinder.py` on {machine()}, commit {git_commit()}.")
    replace_section("docs/solvers.md", "cylinder-2d2", text)
    print(text)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    top.plot(history["t"], history["c_d"], lw=0.8)
    top.axhspan(3.22, 3.24, color="tab:green", alpha=0.3, label="reference c_D,max range")
    top.set(ylabel="drag coefficient c_D", ylim=(2.9, 3.3))
    bottom.plot(history["t"], history["c_l"], lw=0.8)
    bottom.axhspan(0.99, 1.01, color="tab:green", alpha=0.3, label="reference c_L,max range")
    bottom.set(xlabel="time t", ylabel="lift coefficient c_L")
    top.legend(fontsize=8, loc="lower right")
    bottom.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"Schafer-Turek 2D-2 (Re = 100): forces on the cylinder from rest; St = {out['strouhal']:.4f}",
                 fontsize=10)
    fig.tight_layout()
    os.makedirs("runs/bench-cylinder", exist_ok=True)
    fig.savefig("runs/bench-cylinder/lift.png", dpi=120)


if __name__ == "__main__":
    main()
