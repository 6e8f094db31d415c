import math

import numpy as np

from pdekit.numerics import random_fields


def _coefficient_variance(fields):
    """Per-mode variance of the orthonormal sqrt(2) cos / sin coefficients of real 1D fields."""
    n = fields.shape[-1]
    c = np.fft.rfft(fields, axis=-1) / n  # f = sum_k 2 Re(c_k e^{ikx}); orthonormal coef = sqrt(2) c
    return (2 * np.abs(c) ** 2).mean(0) / 2  # average of cos and sin coefficient variances


def test_periodic_1d_matches_its_spectrum():
    std = lambda k: 25.0 * (4 * math.pi**2 * k**2 + 25.0) ** -1.0  # noqa: E731
    rng = np.random.default_rng(0)
    fields = np.stack([random_fields.periodic_1d(rng, 64, std) for _ in range(4000)])
    var = _coefficient_variance(fields)
    k = np.arange(1, 6)
    np.testing.assert_allclose(var[1:6], std(k) ** 2, rtol=0.08)
    assert abs(fields.mean()) < 0.01 and np.abs(np.fft.rfft(fields)[:, 0]).max() < 1e-9


def test_periodic_1d_finer_grid_extends_coarser_sample():
    """The same generator gives the same function at two resolutions (modes drawn in order)."""
    std = lambda k: (1.0 + k**2) ** -1.5  # noqa: E731
    coarse = random_fields.periodic_1d(random_fields.sample_rng(3, 7), 64, std)
    fine = random_fields.periodic_1d(random_fields.sample_rng(3, 7), 512, std)
    # the coarse sample's modes k = 1..31 are exactly the fine sample's first modes
    np.testing.assert_allclose(np.fft.rfft(fine)[:32] / 512, np.fft.rfft(coarse)[:32] / 64, atol=1e-14)
    assert np.abs(np.fft.rfft(fine)[32:40]).max() > 0


def test_periodic_2d_matches_its_spectrum():
    std = lambda k2: (4 * math.pi**2 * k2 + 49.0) ** -1.25  # noqa: E731
    rng = np.random.default_rng(1)
    n = 32
    fields = np.stack([random_fields.periodic_2d(rng, n, std) for _ in range(2000)])
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
