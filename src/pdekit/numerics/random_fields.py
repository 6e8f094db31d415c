"""Gaussian random fields, sampled in float64 with NumPy from a per-sample generator.

Each sample has its own ``numpy.random.Generator`` seeded from ``(seed, index)`` (see
``sample_rng``), so sample i does not depend on batch size, worker count or device.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of a dataset with ``seed`` (PCG64, independent streams).

    Parameters
    ----------
    seed : int
        The dataset seed.
    index : int
        The sample's index in the dataset's stream.

    Returns
    -------
    numpy.random.Generator
        Seeded from ``SeedSequence(seed, spawn_key=(index,))``.
    """
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(index,)))


def periodic_1d(rng: np.random.Generator, n: int, std: Callable[[np.ndarray], np.ndarray], modes: int) -> np.ndarray:
    """A real zero-mean field on n periodic points of [0, 1): the sum over k = 1 .. ``modes`` of
    orthonormal modes sqrt(2) cos(2 pi k x), sqrt(2) sin(2 pi k x) with coefficients of standard
    deviation ``std(k)``.

    The modes and their coefficients depend on ``rng`` and ``modes`` only, never on n: a sample is
    one function, seen at every resolution (modes above n / 2 alias on a coarse grid, which is
    exactly that function's values there).

    Parameters
    ----------
    rng : numpy.random.Generator
        The sample's generator.
    n : int
        Grid points.
    std : callable
        ``std(k)``: standard deviation of the coefficients of wavenumber k (an integer array).
    modes : int
        Highest wavenumber.

    Returns
    -------
    numpy.ndarray
        The field at x_j = j / n, shaped (n,), float64.
    """
    k = np.arange(1, modes + 1)
    ab = rng.standard_normal((modes, 2))
    z = std(k) * (ab[:, 0] - 1j * ab[:, 1]) / math.sqrt(2)  # u = sum_k 2 Re(z_k e^{2 pi i k x})
    m = k % n  # the grid sees mode k as mode k mod n, and mode m > n / 2 as conj of mode n - m
    z = np.where(m > n // 2, np.conj(z), z)
    m = np.minimum(m, n - m)
    coef = np.zeros(n // 2 + 1, dtype=np.complex128)
    np.add.at(coef, m, z)
    edges = [0, n // 2] if n % 2 == 0 else [0]
    coef[edges] = 2 * coef[edges].real  # irfft counts these bins once and keeps their real part
    return np.fft.irfft(n * coef, n=n)


def periodic_2d(rng: np.random.Generator, n: int, std: Callable[[np.ndarray], np.ndarray], modes: int) -> np.ndarray:
    """A real zero-mean field on the n x n periodic grid of [0, 1)^2 made of the Fourier modes with
    |k1|, |k2| <= ``modes`` (k integer wavenumbers); ``std(|k|^2)`` is the standard deviation of the
    coefficient of each orthonormal mode. Independent of n, as ``periodic_1d``.

    Parameters
    ----------
    rng : numpy.random.Generator
        The sample's generator.
    n : int
        Grid points per axis.
    std : callable
        ``std(k2)``: standard deviation as a function of |k|^2 (an integer array).
    modes : int
        Highest wavenumber per axis.

    Returns
    -------
    numpy.ndarray
        The field at (x_i, y_j) = (i / n, j / n), shaped (n, n), float64.
    """
    k = np.arange(-modes, modes + 1)
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    scale = std(k1**2 + k2**2)
    scale[modes, modes] = 0.0
    ab = rng.standard_normal((2, 2 * modes + 1, 2 * modes + 1))
    # sum over the whole square of scale (a cos + b sin)(2 pi k.x): the modes k and -k share one
    # real mode pair, whose orthonormal coefficients then have variance scale^2
    coef = np.zeros((n, n), dtype=np.complex128)
    np.add.at(coef, (k1 % n, k2 % n), scale * (ab[0] - 1j * ab[1]))
    return (n * n * np.fft.ifft2(coef)).real


def neumann_2d(rng: np.random.Generator, n: int, std: Callable[[np.ndarray], np.ndarray], modes: int) -> np.ndarray:
    """A zero-mean field on the n x n node grid of [0, 1]^2 (boundary nodes included), expanded in
    cos(pi k1 x) cos(pi k2 y) with standard deviation ``std(k1^2 + k2^2)`` (k1, k2 < ``modes``), the
    eigenfunctions of the Laplacian with zero normal derivative, as in the FNO paper's Darcy data.
    Independent of n, as ``periodic_1d``.

    Parameters
    ----------
    rng : numpy.random.Generator
        The sample's generator.
    n : int
        Nodes per axis, boundary included (x_i = i / (n - 1)).
    std : callable
        ``std(k2)``: standard deviation as a function of k1^2 + k2^2 (an integer array).
    modes : int
        Cosine modes per axis (k = 0 .. modes - 1; the constant mode is left out).

    Returns
    -------
    numpy.ndarray
        The field on the nodes, shaped (n, n), float64.
    """
    k = np.arange(modes)
    x = np.linspace(0.0, 1.0, n)
    basis = np.cos(math.pi * np.outer(x, k))
    scale = std(k[:, None] ** 2 + k[None, :] ** 2)
    scale[0, 0] = 0.0
    xi = rng.standard_normal((modes, modes))
    return basis @ (scale * xi) @ basis.T


def sine_sum(rng: np.random.Generator, x: np.ndarray, waves: int, k_max: int, amplitude: tuple[float, float] = (0.0, 1.0),
             length: float = 1.0) -> np.ndarray:
    """sum_i A_i sin(2 pi k_i x / length + phi_i) at the points ``x`` (PDEBench's and PDEArena's initial
    conditions): k_i uniform integers in 1..k_max, A_i uniform in ``amplitude``, phi_i uniform in
    [0, 2 pi). Evaluated pointwise, so a sample is the same function at every resolution.

    Parameters
    ----------
    rng : numpy.random.Generator
        The sample's generator.
    x : numpy.ndarray
        The points, shaped (m,).
    waves : int
        Number of sine waves summed.
    k_max : int
        Largest integer wavenumber.
    amplitude : tuple of float
        (low, high) of the uniform amplitudes.
    length : float
        The period (domain length).

    Returns
    -------
    numpy.ndarray
        The sum at ``x``, shaped (m,), float64.
    """
    k = rng.integers(1, k_max + 1, size=waves)
    a = rng.uniform(*amplitude, size=waves)
    phi = rng.uniform(0.0, 2 * math.pi, size=waves)
    return (a[:, None] * np.sin(2 * math.pi * k[:, None] * x[None, :] / length + phi[:, None])).sum(0)
