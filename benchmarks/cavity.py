"""The lid-driven cavity against Ghia, Ghia and Shin (1982): the largest deviation of the
centreline velocities from their tables at Re = 100, 400 and 1000 on refined grids, and the solve
time; writes the section `cavity-ghia` of docs/solvers.md and runs/bench-cavity/centrelines.png.

    python benchmarks/cavity.py [--cells 64 128 256]
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


def main() -> None:
    from pdekit.problems.cavity import (BOTELLA_U_1000, BOTELLA_V_1000, GHIA_U, GHIA_V, GHIA_X, GHIA_Y,
                                        ghia_deviation)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, nargs="+", default=[64, 128, 256])
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows, finest = [], {}
    for re in (100, 400, 1000):
        for cells in args.cells:
            start = time.perf_counter()
            d = ghia_deviation(re, cells)
            seconds = time.perf_counter() - start
            finest[re] = d
            ok = "yes" if max(d["max_u_deviation"], d["max_v_deviation"]) < 0.01 else "no"
            botella = (f"{d['max_u_deviation_botella']:.4f} / {d['max_v_deviation_botella']:.4f}" if re == 1000
                       else "-")
            rows.append(f"| {re} | {cells} x {cells} | {d['max_u_deviation']:.4f} | {d['max_v_deviation']:.4f} | {ok} | "
                        f"{botella} | {seconds:.1f} |")
            print(rows[-1], flush=True)
    text = "\n".join(["| Re | cells | max \\|u - Ghia\\| on x = 0.5 | max \\|v - Ghia\\| on y = 0.5 | within 1% of "
                      "Ghia | max deviation of u / v from Botella and Peyret | solve s |",
                      "|---|---|---|---|---|---|---|", *rows]) + (
        "\n\nDeviations in units of the lid velocity over the 17 tabulated points of each profile (Ghia's "
        "Re = 400 v at x = 0.9063 left out as a misprint); at Re = 1000 also from Botella and Peyret's (1998) "
        "spectral solution at the same points, which differs from Ghia's by up to 0.019. The solve starts from "
        f"rest (Re = 100, 400) or continues from Re = 100 (1000). Measured with `python benchmarks/cavity.py` on "
        f"{machine()}, commit {git_commit()}.")
    replace_section("docs/solvers.md", "cavity-ghia", text)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for re, colour in zip((100, 400, 1000), ("C0", "C1", "C2")):
        d = finest[re]
        left.plot(d["u"], GHIA_Y, "-", color=colour, label=f"pdekit, Re = {re}, {d['cells']}$^2$ cells")
        left.plot(GHIA_U[re], GHIA_Y, "o", color=colour, mfc="none", label=f"Ghia et al., Re = {re}")
        right.plot(GHIA_X, d["v"], "-", color=colour)
        right.plot(GHIA_X, GHIA_V[re], "o", color=colour, mfc="none")
        if re == 1000:
            left.plot(BOTELLA_U_1000, GHIA_Y, "x", color=colour, label="Botella and Peyret, Re = 1000")
            right.plot(GHIA_X, BOTELLA_V_1000, "x", color=colour)
    left.set(xlabel="u(0.5, y)", ylabel="y", title="u on the vertical centreline")
    right.set(xlabel="x", ylabel="v(x, 0.5)", title="v on the horizontal centreline")
    left.legend(fontsize=7)
    fig.suptitle("Lid-driven cavity: pdekit's steady solution (lines), Ghia, Ghia and Shin 1982 (circles), "
                 "Botella and Peyret 1998 (crosses)", fontsize=10)
    fig.tight_layout()
    os.makedirs("runs/bench-cavity", exist_ok=True)
    fig.savefig("runs/bench-cavity/centrelines.png", dpi=120)
    print(text)
    print(np.round(finest[1000]["v"], 4))


if __name__ == "__main__":
    main()
