import math

import numpy as np
import pytest

from pdekit.numerics import random_fields


def _coefficient_variance(fields):
    """Per-mode variance of the orthonormal sqrt(2) cos / sin coefficients of real 1D fields."""
    n = fields.shape[-1]
    c = np.fft.rfft(fields, axis=-1) / n  # f = sum_k 2 Re(c_k e^{ikx}); orthonormal coef = sqrt(2) c
    return (2 * np.abs(c) ** 2).mean(0) / 2  # average of cos and sin coefficient variances


def test_periodic_1d_matches_its_spectrum():
    std = lambda k: 25.0 * (4 * math.pi**2 * k**2 + 25.0) ** -1.0  # noqa: E731
    rng = np.random.default_rng(0)
    fields = np.stack([random_fields.periodic_1d(rng, 64, std, 31) for _ in range(4000)])
    var = _coefficient_variance(fields)
    k = np.arange(1, 6)
    np.testing.assert_allclose(var[1:6], std(k) ** 2, rtol=0.08)
    assert abs(fields.mean()) < 0.01 and np.abs(np.fft.rfft(fields)[:, 0]).max() < 1e-9


def test_periodic_1d_is_one_function_at_every_resolution():
    """A sample's values on a coarse grid are the fine sample's values there, and both are the
    direct sum of its modes (an independent evaluation), aliasing included (modes > n / 2)."""
    std = lambda k: (1.0 + k**2) ** -0.75  # noqa: E731
    modes = 40
    fine = random_fields.periodic_1d(random_fields.sample_rng(3, 7), 512, std, modes)
    for n in (64, 32, 16, 15):  # 16 and 15 points see modes up to 40 aliased
        coarse = random_fields.periodic_1d(random_fields.sample_rng(3, 7), n, std, modes)
        ab = random_fields.sample_rng(3, 7).standard_normal((modes, 2))
        k, x = np.arange(1, modes + 1), np.arange(n) / n
        phase = 2 * math.pi * np.outer(x, k)
        direct = math.sqrt(2) * (np.cos(phase) @ (std(k) * ab[:, 0]) + np.sin(phase) @ (std(k) * ab[:, 1]))
        np.testing.assert_allclose(coarse, direct, rtol=0, atol=1e-12)
        if 512 % n == 0:
            np.testing.assert_allclose(coarse, fine[:: 512 // n], rtol=0, atol=1e-12)


def test_2d_fields_are_one_function_at_every_resolution():
    std = lambda k2: (1.0 + k2) ** -1.0  # noqa: E731
    fine = random_fields.periodic_2d(random_fields.sample_rng(1, 2), 96, std, 20)
    for n in (48, 24, 12):
        coarse = random_fields.periodic_2d(random_fields.sample_rng(1, 2), n, std, 20)
        np.testing.assert_allclose(coarse, fine[:: 96 // n, :: 96 // n], rtol=0, atol=1e-12)
    fine = random_fields.neumann_2d(random_fields.sample_rng(1, 2), 97, std, 30)
    for n in (49, 25, 13):
        coarse = random_fields.neumann_2d(random_fields.sample_rng(1, 2), n, std, 30)
        np.testing.assert_allclose(coarse, fine[:: 96 // (n - 1), :: 96 // (n - 1)], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name, resolution, fine, coarse", [
    ("burgers_1d", 32, 256, 64), ("allen_cahn_1d", 32, 256, 64), ("kuramoto_sivashinsky_1d", 16, 64, 32),
    ("heat_1d", 16, 64, 32), ("heat_2d", 8, 32, 16), ("navier_stokes_2d", 8, 64, 16), ("wave_2d", 8, 32, 16),
    ("darcy_2d", 9, 65, 17), ("diffusion_reaction_1d", 32, 256, 64),
])
def test_problem_inputs_restrict_exactly_to_coarser_solve_grids(name, resolution, fine, coarse):
    """The solver ladder's premise: a coarser solve grid draws the same inputs at the points it shares."""
    from pdekit.problems import get_problem

    cls = get_problem(name)
    params = {"initial": "random"} if name == "allen_cahn_1d" else {}
    drawn = {s: cls.from_params(resolution, {**params, "solve_resolution": s}).sample_inputs(
        random_fields.sample_rng(0, 5)) for s in (fine, coarse)}
    stride = (fine // coarse) if cls.periodic else (fine - 1) // (coarse - 1)
    for key, value in drawn[coarse].items():
        np.testing.assert_allclose(value, drawn[fine][key][(slice(None, None, stride),) * cls.ndim], rtol=0,
                                   atol=1e-11, err_msg=f"{name}: {key}")


def test_periodic_2d_matches_its_spectrum():
    std = lambda k2: (4 * math.pi**2 * k2 + 49.0) ** -1.25  # noqa: E731
    rng = np.random.default_rng(1)
    n = 32
    fields = np.stack([random_fields.periodic_2d(rng, n, std, n // 2 - 1) for _ in range(2000)])
    # orthonormal real modes: variance of the field = sum of coefficient variances (no Nyquist)
    k = np.fft.fftfreq(n, 1.0 / n)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    keep = (np.abs(k)[:, None] < n / 2) & (np.abs(k)[None, :] < n / 2) & (k2 > 0)
    expected = (std(k2[keep]) ** 2).sum()
    assert abs(fields.var() / expected - 1) < 0.05


def test_sample_rng_depends_on_seed_and_index_only():
    a = random_fields.sample_rng(5, 11).standard_normal(4)
    b = random_fields.sample_rng(5, 11).standard_normal(4)
    c = random_fields.sample_rng(5, 12).standard_normal(4)
    d = random_fields.sample_rng(6, 11).standard_normal(4)
    assert (a == b).all() and not np.allclose(a, c) and not np.allclose(a, d)
