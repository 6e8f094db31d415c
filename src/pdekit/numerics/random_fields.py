"""Gaussian random fields, sampled in float64 with NumPy from a per-sample generator.

Each sample has its own ``numpy.random.Generator`` seeded from ``(seed, index)`` (see
``sample_rng``), so sample i does not depend on batch size, worker count or device.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of a dataset with ``seed`` (PCG64, independent streams)."""
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(index,)))


def periodic_1d(rng: np.random.Generator, n: int, std: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """A real zero-mean field on n periodic points of [0, 1) with standard deviation ``std(k)`` of the
    coefficient of each orthonormal mode sqrt(2) cos(2 pi k x), sqrt(2) sin(2 pi k x), k >= 1.

    Modes are drawn in order k = 1, 2, ...: a finer grid's sample extends a coarser one's with the
    same generator, so a sample is one function seen at several resolutions (Nyquist mode left out).
    """
    kmax = (n - 1) // 2
    k = np.arange(1, kmax + 1)
    ab = rng.standard_normal((kmax, 2))
    coef = np.zeros(n // 2 + 1, dtype=np.complex128)
    coef[1 : kmax + 1] = n * std(k) * (ab[:, 0] - 1j * ab[:, 1]) / math.sqrt(2)
    return np.fft.irfft(coef, n=n)


def periodic_2d(rng: np.random.Generator, n: int, std: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """A real zero-mean field on the n x n periodic grid of [0, 1)^2; ``std(|k|^2)`` (k integer
    wavenumbers) is the standard deviation of the coefficient of each orthonormal Fourier mode."""
    white = rng.standard_normal((n, n))
    k = np.fft.fftfreq(n, d=1.0 / n)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    scale = std(k2)
    scale[0, 0] = 0.0
    if n % 2 == 0:  # drop Nyquist modes, which have no real partner
        scale[n // 2, :] = 0.0
        scale[:, n // 2] = 0.0
    return n * np.fft.ifft2(scale * np.fft.fft2(white)).real


def neumann_2d(rng: np.random.Generator, n: int, std: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """A zero-mean field on the n x n node grid of [0, 1]^2 (boundary nodes included), expanded in
    cos(pi k1 x) cos(pi k2 y) with standard deviation ``std(k1^2 + k2^2)`` (k1, k2 < n), the
    eigenfunctions of the Laplacian with zero normal derivative, as in the FNO paper's Darcy data."""
    k = np.arange(n)
    x = np.linspace(0.0, 1.0, n)
    basis = np.cos(math.pi * np.outer(x, k))
    scale = std(k[:, None] ** 2 + k[None, :] ** 2)
    scale[0, 0] = 0.0
    xi = rng.standard_normal((n, n))
    return basis @ (scale * xi) @ basis.T


def sine_sum(rng: np.random.Generator, x: np.ndarray, waves: int, k_max: int, amplitude: tuple[float, float] = (0.0, 1.0),
             length: float = 1.0) -> np.ndarray:
    """sum_i A_i sin(2 pi k_i x / length + phi_i) at the points ``x`` (PDEBench's and PDEArena's initial
    conditions): k_i uniform integers in 1..k_max, A_i uniform in ``amplitude``, phi_i uniform in
    [0, 2 pi). Evaluated pointwise, so a sample is the same function at every resolution."""
    k = rng.integers(1, k_max + 1, size=waves)
    a = rng.uniform(*amplitude, size=waves)
    phi = rng.uniform(0.0, 2 * math.pi, size=waves)
    return (a[:, None] * np.sin(2 * math.pi * k[:, None] * x[None, :] / length + phi[:, None])).sum(0)
