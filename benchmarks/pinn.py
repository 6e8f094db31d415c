"""PINN benchmarks, written to docs/benchmarks.md.

    bash benchmarks/setup_peers.sh && . .venv-bench/bin/activate
    python benchmarks/pinn.py burgers     # pdekit's recipe, and DeepXDE 1.15's own example next to pdekit
                                          # on the same network and points, in the same run
    python benchmarks/pinn.py problems    # inverse Burgers, Poisson on the L-shape, Allen-Cahn
    python benchmarks/pinn.py pino        # data-free PINO against the supervised FNO on Darcy, same budget

Burgers (nu = 0.01/pi, u0 = -sin(pi x), u(+-1) = 0) is scored against the Cole-Hopf solution on a
256 x 101 grid (relative L2). DeepXDE runs its examples/pinn_forward/Burgers.py recipe: tanh
2-20-20-20-1 (Glorot normal), 2540 interior + 80 boundary + 160 initial points, Adam 15,000 steps
at 1e-3, then L-BFGS, float32. pdekit runs the same network, points and soft conditions with Adam
for 15,000 steps, then float64 L-BFGS. Iterations per second are those of Adam, timed apart from the
full runs: each library's training call of the same setup, in alternating rounds after a warm-up
call each (pdekit's compilation falls there).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time

import numpy as np
import torch

from _report import git_commit, machine, replace_section

NU = 0.01 / math.pi
ADAM_STEPS = 15000


def _grid():
    x, t = np.linspace(-1, 1, 256), np.linspace(0, 1, 101)
    xx, tt = np.meshgrid(x, t)
    return x, t, np.stack([xx.ravel(), tt.ravel()], axis=1)


def _rel(u, ref):
    return float(np.linalg.norm(u - ref) / np.linalg.norm(ref))


def deepxde_model():
    """DeepXDE's Burgers example, compiled for Adam at 1e-3 (its own recipe, float32)."""
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    def pde(x, y):
        dy_x = dde.grad.jacobian(y, x, i=0, j=0)
        dy_t = dde.grad.jacobian(y, x, i=0, j=1)
        dy_xx = dde.grad.hessian(y, x, i=0, j=0)
        return dy_t + y * dy_x - NU * dy_xx

    geomtime = dde.geometry.GeometryXTime(dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 0.99))
    bc = dde.icbc.DirichletBC(geomtime, lambda x: 0, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geomtime, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on_initial: on_initial)
    data = dde.data.TimePDE(geomtime, pde, [bc, ic], num_domain=2540, num_boundary=80, num_initial=160)
    model = dde.Model(data, dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal"))
    model.compile("adam", lr=1e-3)
    return model


def deepxde_burgers(adam_steps: int) -> dict:
    from pdekit.pinn import burgers_cole_hopf

    model = deepxde_model()
    start = time.perf_counter()
    model.train(iterations=adam_steps, display_every=max(1, adam_steps // 5))
    model.compile("L-BFGS")
    _, state = model.train(display_every=1000)
    total = time.perf_counter() - start
    x, t, pts = _grid()
    u = model.predict(pts.astype(np.float32)).reshape(len(t), len(x))
    return {"rel_l2": _rel(u, burgers_cole_hopf(x, t)), "seconds": total,
            "lbfgs_steps": state.step - adam_steps}


def pdekit_model():
    """DeepXDE's network, point counts and soft conditions, in pdekit, and its training settings."""
    from pdekit.pinn import MLP, PINN, Dirichlet, Initial, Interval, TimeInterval, partial

    def burgers(u, x):
        return partial(u, x, 1) + u * partial(u, x, 0) - NU * partial(u, x, 0, 2)

    torch.manual_seed(0)
    pinn = PINN(Interval(-1, 1) * TimeInterval(0, 0.99), burgers, MLP(2, 1, width=20, depth=3),
                [Dirichlet(0.0, points=np.column_stack([np.repeat([-1.0, 1.0], 40), np.linspace(0, 0.99, 80)])),
                 Initial(lambda x: -torch.sin(math.pi * x[:, :1]))])
    cfg = {"collocation": 2540, "condition_points": 160, "sampler": "sobol", "lr": 1e-3, "log_every": 500,
           "threads": torch.get_num_threads(), "compile": True}
    return pinn, cfg


def pdekit_same_setup(adam_steps: int) -> dict:
    from pdekit.pinn import PinnTask, burgers_cole_hopf
    from pdekit.train import fit

    pinn, cfg = pdekit_model()
    result = fit(pinn, PinnTask(), quiet=True, epochs=adam_steps, lbfgs_steps=15000, **cfg)
    x, t, pts = _grid()
    u = pinn.predict(pts)[:, 0].reshape(len(t), len(x))
    return {"rel_l2": _rel(u, burgers_cole_hopf(x, t)),
            "seconds": result["seconds"], "lbfgs_steps": result["steps"] - adam_steps, "stop": result["stop_reason"]}


def adam_rates(rounds: int, steps: int) -> dict:
    """Adam iterations per second of the same setup in both libraries, each its own training call
    of ``steps`` steps, alternating over ``rounds`` rounds after one warm-up call each (pdekit's
    torch.compile, about 10 s, falls there); medians, the ratio per round, and the warm-up times."""
    import statistics

    from pdekit.pinn import PinnTask
    from pdekit.train import fit

    peer = deepxde_model()
    ours, cfg = pdekit_model()

    def peer_call():
        peer.train(iterations=steps, display_every=10 * steps, verbose=0)

    def our_call():
        fit(ours, PinnTask(), quiet=True, epochs=steps, lbfgs_steps=0, **cfg)

    def timed(call):
        start = time.perf_counter()
        call()
        return time.perf_counter() - start

    warm = {"peer": timed(peer_call), "ours": timed(our_call)}
    rates = {"peer": [], "ours": []}
    for _ in range(rounds):
        rates["peer"].append(steps / timed(peer_call))
        rates["ours"].append(steps / timed(our_call))
    ratios = [o / p for o, p in zip(rates["ours"], rates["peer"])]
    return {"peer": statistics.median(rates["peer"]), "ours": statistics.median(rates["ours"]),
            "ratio": statistics.median(ratios), "ratios": ratios, "warm": warm, "rounds": rounds, "steps": steps}


def run_fresh(recipe, run_dir: str) -> dict:
    """Run a loaded recipe in an emptied folder (a benchmark starts afresh); adds the wall time."""
    from pdekit.pipeline import run_recipe

    shutil.rmtree(run_dir, ignore_errors=True)
    start = time.perf_counter()
    metrics = run_recipe(recipe, run_dir, quiet=True)
    metrics["wall"] = time.perf_counter() - start
    return metrics


def run_recipe(name: str, overrides=()) -> dict:
    from pdekit.recipes import load_recipe

    return run_fresh(load_recipe(name, overrides=list(overrides)), f"runs/bench-{name}")


def burgers(rounds: int = 7, steps: int = 1000) -> str:
    rows = ["| run | network, points | Adam it/s | it/s ratio pdekit / DeepXDE (median of the rounds' ratios) | "
            "L-BFGS iterations | rel. L2 | train seconds |", "|---|---|---|---|---|---|---|"]
    speed = adam_rates(rounds, steps)
    print(f"Adam rates: {speed}", flush=True)
    peer = deepxde_burgers(ADAM_STEPS)
    ours = pdekit_same_setup(ADAM_STEPS)
    rows.append(f"| DeepXDE 1.15 example (float32) | 2-20-20-20-1 tanh, 2540 + 80 + 160 | {speed['peer']:.0f} | | "
                f"{peer['lbfgs_steps']} | {peer['rel_l2']:.2e} | {peer['seconds']:.0f} |")
    rows.append(f"| pdekit, same setup (L-BFGS float64) | same | {speed['ours']:.0f} | {speed['ratio']:.2f} | "
                f"{ours['lbfgs_steps']} | {ours['rel_l2']:.2e} | {ours['seconds']:.0f} |")
    print("\n".join(rows), flush=True)
    recipe = run_recipe("burgers_pinn")
    rows.append(f"| pdekit `burgers_pinn` recipe (hard conditions) | 2-20x8-1 tanh, 8000 Sobol | "
                f"{recipe['adam_steps_per_second']:.0f} | | {recipe['steps'] - 2000} | {recipe['test_rel_l2']:.2e} | "
                f"{recipe['train_seconds']:.0f} |")
    print(rows[-1], flush=True)
    spread = ", ".join(f"{r:.2f}" for r in sorted(speed["ratios"]))
    return ("\n".join(rows) + f"\n\nThe Adam rates of the first two rows, and their ratio, are medians of "
            f"{speed['rounds']} alternating rounds of {speed['steps']} steps, each library's own training call, after "
            f"one warm-up call each (DeepXDE {speed['warm']['peer']:.1f} s, pdekit {speed['warm']['ours']:.1f} s with "
            f"its compilation); the ratios of the rounds: {spread}. The recipe's rate is its run's own (compilation "
            f"included). The errors, L-BFGS iterations and seconds are one full run each (Adam {ADAM_STEPS} steps, "
            f"then L-BFGS). pdekit's same-setup run stopped: {ours['stop']}; the recipe stopped: "
            f"{recipe['stop_reason']}. Measured with `python benchmarks/pinn.py burgers` at commit {git_commit()} "
            f"on {machine()}.")


def problems(only: str | None = None) -> str:
    """Every problem's row; ``only``: one recipe's row, printed, for replacing that row by hand."""
    rows = ["| recipe | what | result | rel. L2 against the reference | train seconds |", "|---|---|---|---|---|"]
    if only not in (None, "burgers_inverse_pinn"):
        return _problem_rows(rows, only)
    inv = run_recipe("burgers_inverse_pinn")
    rows.append(f"| burgers_inverse_pinn | nu from 2,000 points with 1% noise, started at 0.01 | nu = {inv['nu']:.6f} "
                f"(true {inv['nu_true']:.6f}, error {100 * inv['nu_rel_error']:.2f}%) | {inv['test_rel_l2']:.2e} | "
                f"{inv['train_seconds']:.0f} |")
    print(rows[-1], flush=True)
    return rows if only else _problem_rows(rows, None)


def _problem_rows(rows, only):
    for name, what in (("poisson_lshape_pinn", "-Laplacian u = 1 on the L-shape, u = 0, against 5-point FD at h = 1/256"),
                       ("allen_cahn_pinn", "the standard case, against pdekit's spectral solver (512 x 201)"),
                       ("cavity_pinn", "lid-driven cavity, Re = 100, regularized lid, (psi, p) with hard walls; velocity "
                                       "against the staggered-grid solver on 128 x 128 cells")):
        if only not in (None, name):
            continue
        m = run_recipe(name)
        rows.append(f"| {name} | {what} | stopped: {m['stop_reason']} | {m['test_rel_l2']:.2e} | "
                    f"{m['train_seconds']:.0f} |")
        print(rows[-1], flush=True)
    if only:
        return rows
    return "\n".join(rows) + f"\n\nMeasured with `python benchmarks/pinn.py problems` at commit {git_commit()} on {machine()}."


def pino() -> str:
    """darcy_fno's quick setup (29 x 29 from 141 solved, 200 training samples, 40 epochs) three ways,
    and Burgers as a space-time task (u0 -> u(t, x) on 21 times in [0, 0.5], 64 points, 256 solved)."""
    from pdekit.recipes import load_recipe

    rows = ["| training | loss | test rel. L2 | train seconds |", "|---|---|---|---|"]
    burgers = {"name": "pino_burgers", "data": {"problem": "burgers_1d", "resolution": 64, "trajectory": True,
                                                "params": {"solve_resolution": 256, "nt": 21, "t_final": 0.5},
                                                "n_train": 200, "n_test": 50},
               "model": {"name": "fno", "modes": 8, "width": 24, "depth": 4},
               "train": {"epochs": 40, "batch_size": 10, "lr": 3e-3},
               "eval": {"solver_ladder": False}}
    darcy = ["eval.solver_ladder=false", "train.augment=false"]  # as recorded, before darcy_fno augmented
    cases = [("Darcy", lambda o: load_recipe("darcy_fno", quick=True, overrides=o + darcy),
              [("supervised FNO", []), ("PINO, data-free", ["train.data_weight=0", "train.physics_weight=1"]),
               ("PINO, data + physics", ["train.physics_weight=0.01"])]),
             ("Burgers trajectories", lambda o: load_recipe(burgers, overrides=o),
              [("supervised FNO", []), ("PINO, data-free", ["train.data_weight=0", "train.physics_weight=1"])])]
    for problem, recipe, variants in cases:
        for label, overrides in variants:
            tag = "".join(ch if ch.isalnum() else "-" for ch in f"{problem} {label}".lower())
            m = run_fresh(recipe(overrides), "runs/bench-pino-" + tag)
            rows.append(f"| {problem}: {label} | {' '.join(overrides) or 'relative L2 on the data'} | "
                        f"{m['test_rel_l2']:.4f} | {m['train_seconds']:.0f} |")
            print(rows[-1], flush=True)
    return "\n".join(rows) + f"\n\nMeasured with `python benchmarks/pinn.py pino` at commit {git_commit()} on {machine()}."


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["burgers", "problems", "pino"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default=None, help="problems: run one recipe and print its row (docs untouched)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.only:
        print("\n".join(problems(args.only)[2:]) + f" ({git_commit()}, {machine()})")
        return
    text = {"burgers": burgers, "problems": problems, "pino": pino}[args.what]()
    replace_section("docs/benchmarks.md", f"pinn-{args.what}", text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
