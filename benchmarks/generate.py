"""Generation speed of every problem at the standard sizes, next to a plain reference
implementation timed in the same run, written to docs/benchmarks.md.

    python benchmarks/generate.py [--device cuda] [--quick]

The references are what one would write without pdekit: scipy's solve_ivp on a finite-difference
method of lines (Burgers), a loop-assembled sparse matrix and scipy's spsolve (Darcy), the FNO
paper's Crank-Nicolson pseudo-spectral scheme in NumPy with dt = 1e-4 (Navier-Stokes), NumPy FFTs
(heat), scipy's BDF on a NumPy pseudo-spectral method of lines (Kuramoto-Sivashinsky, Allen-Cahn,
diffusion-reaction, KdV), np.interp (advection), finite differences with leapfrog (wave). Each reference gets the same inputs as pdekit; the table also gives the largest difference
between the two solutions, relative to the solution's largest value. pdekit and the reference are
timed in ROUNDS alternating rounds (medians), after a warm-up call of pdekit's (plans, caches;
on a GPU, kernels) that is not counted.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.integrate
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from _report import git_commit, machine, replace_section

from pdekit.data.generate import solve_samples
from pdekit.numerics.random_fields import sample_rng
from pdekit.problems import get_problem


ROUNDS = 3


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _alternating(ours, reference, device: str):
    """(reference's last output, median seconds of ``ours``, median seconds of ``reference``) over
    ROUNDS rounds that call each in turn (a GPU synchronized before every clock read)."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    seconds, ref_seconds = [], []
    for _ in range(ROUNDS):
        sync()
        _, s = _timed(lambda: (ours(), sync()))
        seconds.append(s)
        out, s = _timed(reference)
        ref_seconds.append(s)
    return out, statistics.median(seconds), statistics.median(ref_seconds)


def _inputs(problem, count):
    return [problem.sample_inputs(sample_rng(0, i)) for i in range(count)]


def _rel(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


# --- references -----------------------------------------------------------------------------------
def burgers_reference(u0: np.ndarray, nu: float, t_final: float) -> np.ndarray:
    """Method of lines: second-order central differences, conservative flux, scipy BDF."""
    n = u0.size
    h = 1.0 / n
    ones = np.ones(n)
    d1 = sp.diags([-ones, ones], [-1, 1], (n, n)).tolil()
    d1[0, n - 1], d1[n - 1, 0] = -1, 1
    d1 = d1.tocsr() / (2 * h)
    d2 = sp.diags([ones, -2 * ones, ones], [-1, 0, 1], (n, n)).tolil()
    d2[0, n - 1] = d2[n - 1, 0] = 1
    d2 = d2.tocsr() / h**2

    def rhs(_, u):
        return -0.5 * (d1 @ (u * u)) + nu * (d2 @ u)

    def jac(_, u):
        return -(d1 @ sp.diags(u)) + nu * d2

    sol = scipy.integrate.solve_ivp(rhs, (0, t_final), u0, method="BDF", jac=jac, rtol=1e-8, atol=1e-10)
    return sol.y[:, -1]


def darcy_reference(a: np.ndarray, f: float) -> np.ndarray:
    """Loop assembly of the same finite-volume matrix, scipy.sparse.linalg.spsolve with defaults."""
    n = a.shape[0]
    m, h2 = n - 2, (1.0 / (n - 1)) ** 2
    rows, cols, vals = [], [], []
    harmonic = lambda p, q: 2 * p * q / (p + q)  # noqa: E731
    for i in range(1, n - 1):
        for j in range(1, n - 1):
            row = (i - 1) * m + (j - 1)
            total = 0.0
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                c = harmonic(a[i, j], a[i + di, j + dj]) / h2
                total += c
                ii, jj = i + di, j + dj
                if 1 <= ii <= n - 2 and 1 <= jj <= n - 2:
                    rows.append(row)
                    cols.append((ii - 1) * m + (jj - 1))
                    vals.append(-c)
            rows.append(row)
            cols.append(row)
            vals.append(total)
    matrix = sp.csc_matrix((vals, (rows, cols)), shape=(m * m, m * m))
    u = np.zeros((n, n))
    u[1:-1, 1:-1] = spla.spsolve(matrix, np.full(m * m, f)).reshape(m, m)
    return u


def navier_stokes_reference(w0: np.ndarray, nu: float, t_final: float, dt: float = 1e-4) -> np.ndarray:
    """The FNO paper's scheme: pseudo-spectral, Crank-Nicolson for viscosity, Heun for the rest."""
    n = w0.shape[0]
    k = np.fft.fftfreq(n, 1.0 / n) * 2 * np.pi
    kx, ky = np.meshgrid(k, k, indexing="ij")
    lap = kx**2 + ky**2
    lap_inv = np.where(lap == 0, 1.0, lap)
    dealias = (np.abs(kx) < 2 * np.pi * n / 3) & (np.abs(ky) < 2 * np.pi * n / 3)
    x = np.arange(n) / n
    forcing = 0.1 * (np.sin(2 * np.pi * (x[:, None] + x[None, :])) + np.cos(2 * np.pi * (x[:, None] + x[None, :])))
    f_hat = np.fft.fft2(forcing)
    w_hat = np.fft.fft2(w0)

    def advection(w_hat):
        psi = w_hat / lap_inv
        u, v = np.fft.ifft2(1j * ky * psi).real, np.fft.ifft2(-1j * kx * psi).real
        wx, wy = np.fft.ifft2(1j * kx * w_hat).real, np.fft.ifft2(1j * ky * w_hat).real
        return dealias * np.fft.fft2(u * wx + v * wy)

    for _ in range(round(t_final / dt)):
        f1 = f_hat - advection(w_hat)
        w_tilde = (w_hat + dt * (f1 - 0.5 * nu * lap * w_hat)) / (1 + 0.5 * dt * nu * lap)
        f2 = f_hat - advection(w_tilde)
        w_hat = (w_hat + dt * (0.5 * (f1 + f2) - 0.5 * nu * lap * w_hat)) / (1 + 0.5 * dt * nu * lap)
    return np.fft.ifft2(w_hat).real


def heat_reference(u0: np.ndarray, nu: float, t: float) -> np.ndarray:
    n = u0.shape[0]
    k = np.fft.fftfreq(n, 1.0 / n) * 2 * np.pi
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    return np.fft.ifft2(np.exp(-nu * k2 * t) * np.fft.fft2(u0)).real


def spectral_lines_reference(u0: np.ndarray, length: float, t_final: float, rhs_terms) -> np.ndarray:
    """Method of lines with NumPy FFT derivatives (no dealiasing) and scipy's BDF with a
    finite-difference Jacobian: the stiff-ODE route one takes without an exponential integrator."""
    n = u0.size
    k = np.fft.fftfreq(n, 1.0 / n) * 2 * np.pi / length

    def d(u, order):
        return np.fft.ifft((1j * k) ** order * np.fft.fft(u)).real

    sol = scipy.integrate.solve_ivp(lambda _, u: rhs_terms(u, d), (0, t_final), u0, method="BDF", rtol=1e-8, atol=1e-10)
    return sol.y[:, -1]


def advection_reference(u0: np.ndarray, beta: float, t: float) -> np.ndarray:
    """Periodic linear interpolation of u0 at x - beta t (np.interp)."""
    n = u0.size
    x = np.arange(n) / n
    return np.interp((x - beta * t) % 1.0, np.append(x, 1.0), np.append(u0, u0[0]))


def wave_reference(u0: np.ndarray, c: float, t: float, dt: float) -> np.ndarray:
    """Second-order finite differences (5-point Laplacian) and leapfrog, v0 = 0, in NumPy."""
    n = u0.shape[0]
    h2 = (1.0 / n) ** 2

    def lap(u):
        return (np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1) - 4 * u) / h2

    steps = round(t / dt)
    u, v = u0.copy(), np.zeros_like(u0)
    for _ in range(steps):
        v = v + 0.5 * dt * c**2 * lap(u)
        u = u + dt * v
        v = v + 0.5 * dt * c**2 * lap(u)
    return u


# --- cases ------------------------------------------------------------------------------------------
def case(label, problem, count, batch, device, ref_label, ref_count, ref_solve, pick, note=""):
    """Time pdekit on ``count`` samples and the reference on ``ref_count`` of them; ``pick`` selects
    from pdekit's stored arrays what the reference returns, to report their difference."""
    solve_samples(problem, 0, range(min(2, count)), device)  # warm-up (plans, caches), not counted
    ref_out, seconds, ref_seconds = _alternating(
        lambda: [solve_samples(problem, 0, range(s, min(s + batch, count)), device) for s in range(0, count, batch)],
        lambda: [ref_solve(inp) for inp in _inputs(problem, ref_count)], device)
    ours = solve_samples(problem, 0, range(ref_count), device)
    diff = max(_rel(r, o) for r, o in zip(ref_out, pick(ours)))
    rate, ref_rate = count / seconds, ref_count / ref_seconds
    row = (f"| {label} | {device} | {rate:.3g} | {ref_label} | {ref_rate:.3g} | {rate / ref_rate:.2g}x | "
           f"{diff:.1e} | {note} |")
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a smoke test")
    args = parser.parse_args()
    torch.set_num_threads(2)
    dev, q = args.device, args.quick
    rows = ["| problem and size | device | pdekit samples/s | reference | reference samples/s | speed-up | "
            "max difference | note |", "|---|---|---|---|---|---|---|---|"]

    final_u = lambda d: d["fields/u"][:, -1]  # noqa: E731
    p = get_problem("burgers_1d").from_params(1024, {})  # solved at 8192, stored at 1024
    rows.append(case(
        "burgers_1d, 8192 solved, 1024 stored, t = 1", p, 8 if q else 64, 32, dev,
        "solve_ivp BDF, 2nd-order FD, 8192 points", 1 if q else 2,
        lambda inp: burgers_reference(inp["u0"], 0.1, 1.0)[::8], final_u,
        note="difference: the reference's 2nd-order FD error"))

    for stored in (85, 141):
        p = get_problem("darcy_2d").from_params(stored, {})
        stride = 420 // (stored - 1)
        rows.append(case(
            f"darcy_2d, 421 solved, {stored} stored", p, 4 if q else 16, 4, dev,
            "loop assembly + spsolve", 1 if q else 2,
            lambda inp, s=stride: darcy_reference(inp["a"], 1.0)[::s, ::s], lambda d: d["fields/u"]))

    for solve in (64, 256):
        t_ref = 0.2 if (q or solve == 256) else 1.0
        t_final = 2.0 if (q or solve == 256) else 50.0
        p = get_problem("navier_stokes_2d").from_params(64, {"solve_resolution": solve, "t_final": t_final,
                                                             "nt": int(t_final) + 1})
        p_short = get_problem("navier_stokes_2d").from_params(64, {"solve_resolution": solve, "t_final": t_ref,
                                                                   "nt": 2})
        count = 2 if q else (8 if solve == 64 else 2)
        # pdekit's full-horizon rate, and agreement checked on the short horizon the reference runs
        ours = solve_samples(p_short, 0, range(1), dev)["fields/vorticity"][0, -1]  # (also the warm-up)
        stride = solve // 64
        w0 = p.sample_inputs(sample_rng(0, 0))["w0"]
        ref, seconds, ref_seconds = _alternating(lambda: solve_samples(p, 0, range(count), dev),
                                                 lambda: navier_stokes_reference(w0, 1e-3, t_ref), dev)
        rate = count / seconds * (t_final / 50.0)
        ref_rate = 1.0 / (ref_seconds * 50.0 / t_ref)
        diff = _rel(ref[::stride, ::stride], ours)
        note = (f"pdekit timed to t = {t_final:g}, reference to t = {t_ref:g}, both scaled to T = 50; "
                f"difference at t = {t_ref:g}")
        rows.append(f"| navier_stokes_2d, {solve} solved, 64 stored, nu = 1e-3, T = 50 | {dev} | {rate:.3g} | "
                    f"Crank-Nicolson/Heun, dt = 1e-4, NumPy | {ref_rate:.3g} | {rate / ref_rate:.1f}x | {diff:.1e} | {note} |")
        print(rows[-1], flush=True)

    mol = "BDF method of lines, NumPy FFT derivatives"
    p = get_problem("kuramoto_sivashinsky_1d").from_params(64, {"spinup": 0.0, "t_final": 10.0, "nt": 11})
    rows.append(case(
        "kuramoto_sivashinsky_1d, L = 22, 128 solved, 64 stored, t = 10 (no spin-up)", p, 8 if q else 64, 64, dev,
        mol, 1 if q else 2, lambda inp: spectral_lines_reference(
            inp["u0"], 22.0, 10.0, lambda u, d: -u * d(u, 1) - d(u, 2) - d(u, 4))[::2], final_u,
        note="the default run adds a spin-up of 100 time units and stores 50 more"))
    p = get_problem("allen_cahn_1d").from_params(512, {"initial": "random"})
    rows.append(case(
        "allen_cahn_1d, 2048 solved, 512 stored, 201 times, t = 1", p, 4 if q else 32, 32, dev,
        mol, 1, lambda inp: spectral_lines_reference(
            inp["u0"], 2.0, 1.0, lambda u, d: 1e-4 * d(u, 2) + 5 * u - 5 * u**3)[::4], final_u))
    p = get_problem("advection_1d").from_params(1024, {})
    rows.append(case("advection_1d, beta = 0.1, 1024 points, 201 times, t = 2", p, 64 if q else 512, 64, dev,
                     "np.interp shift", 64 if q else 512,
                     lambda inp: [advection_reference(inp["u0"], 0.1, t) for t in p.times()][-1], final_u,
                     note="difference: the reference's linear interpolation error"))
    p = get_problem("diffusion_reaction_1d").from_params(1024, {})
    rows.append(case(
        "diffusion_reaction_1d, nu = 0.5, rho = 1, 1024 points, 101 times, t = 1", p, 8 if q else 64, 32, dev,
        mol, 1, lambda inp: spectral_lines_reference(
            inp["u0"], 1.0, 1.0, lambda u, d: 0.5 * d(u, 2) + u * (1 - u)), final_u))
    p = get_problem("kdv_1d").from_params(256, {"t_final": 10.0, "nt": 11})
    rows.append(case(
        "kdv_1d, L = 128, 512 solved, 256 stored, t = 10", p, 8 if q else 64, 64, dev,
        mol, 1, lambda inp: spectral_lines_reference(
            inp["u0"], 128.0, 10.0, lambda u, d: -u * d(u, 1) - d(u, 3))[::2], final_u,
        note="the default run goes to t = 100"))
    p = get_problem("wave_2d").from_params(64, {})
    rows.append(case("wave_2d, 64 x 64, 21 times, t = 1", p, 16 if q else 128, 32, dev,
                     "5-point FD + leapfrog, NumPy", 4 if q else 16, lambda inp: wave_reference(inp["u0"], 1.0, 1.0, 1e-3),
                     final_u, note="difference: the reference's second-order spatial error"))

    p = get_problem("heat_2d").from_params(64, {})
    rows.append(case("heat_2d, 64 x 64, 11 times", p, 64 if q else 512, 64, dev, "NumPy FFT", 64 if q else 512,
                     lambda inp: heat_reference(inp["u0"], 0.01, 1.0), final_u,
                     note="pdekit's time includes drawing the random inputs, the reference's does not"))

    if not q:
        # the FNO setup end to end, as `pdekit generate burgers_1d --n 1000 --resolution 1024` runs it
        import tempfile

        from pdekit.data import generate

        with tempfile.TemporaryDirectory() as tmp:
            p = get_problem("burgers_1d").from_params(1024, {})
            _, seconds = _timed(lambda: generate(p, 1000, 0, f"{tmp}/burgers.h5", batch_size=50, device=dev, quiet=True))
        rows.append(f"\n`pdekit generate burgers_1d --n 1000 --resolution 1024 --seed 0 --batch-size 50 --out FILE` (8192 solved, "
                    f"1024 stored, HDF5 written): {seconds / 60:.1f} minutes on {dev}.")
        print(rows[-1], flush=True)

    text = "\n".join(rows) + (f"\n\nRates: medians of {ROUNDS} rounds alternating pdekit and the reference, after a "
                              f"warm-up call of pdekit's (not counted). Measured with `python benchmarks/generate.py "
                              f"--device {dev}` at commit {git_commit()} on {machine()}.")
    if not q:
        replace_section("docs/benchmarks.md", f"generate-{dev}", text)
    print(text)


if __name__ == "__main__":
    main()
