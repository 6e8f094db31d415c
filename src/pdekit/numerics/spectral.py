"""Fourier pseudo-spectral helpers for periodic grids (points x_j = j L / n, j = 0..n-1)."""

from __future__ import annotations

import math

import torch


def wavenumbers(n: int, length: float = 1.0, real: bool = False, device=None) -> torch.Tensor:
    """Angular wavenumbers 2 pi k / L in FFT order (``real``: the rfft half, k = 0..n/2)."""
    k = torch.fft.rfftfreq(n, d=1.0 / n) if real else torch.fft.fftfreq(n, d=1.0 / n)
    return (2 * math.pi / length) * k.to(device=device, dtype=torch.float64)


def wavenumber_grid(n: int, ndim: int, length: float = 1.0, device=None) -> list[torch.Tensor]:
    """Broadcastable angular wavenumbers for an rfftn over the last ``ndim`` axes of an n^ndim grid."""
    grids = []
    for axis in range(ndim):
        k = wavenumbers(n, length, real=(axis == ndim - 1), device=device)
        shape = [1] * ndim
        shape[axis] = -1
        grids.append(k.reshape(shape))
    return grids


def dealias_mask(n: int, ndim: int, device=None) -> torch.Tensor:
    """2/3-rule mask for an rfftn of an n^ndim grid: keeps integer wavenumbers |k| < n / 3."""
    mask = None
    for axis in range(ndim):
        k = torch.fft.rfftfreq(n, d=1.0 / n) if axis == ndim - 1 else torch.fft.fftfreq(n, d=1.0 / n)
        shape = [1] * ndim
        shape[axis] = -1
        m = (k.abs() < n / 3).reshape(shape).to(device)
        mask = m if mask is None else mask & m
    return mask


def derivative(u: torch.Tensor, ndim: int, axis: int, order: int = 1, length: float = 1.0) -> torch.Tensor:
    """Spectral derivative of a real periodic field along spatial ``axis`` (0-based, of the last ``ndim``).
    An odd derivative drops the Nyquist mode of an even n (its sign is ambiguous: k = -n/2 or n/2),
    on every axis alike (irfftn drops it on the last; the full-FFT axes kept it: 16 pi on a 16-point
    (-1)^i)."""
    n = u.shape[-1]
    dims = tuple(range(-ndim, 0))
    k = wavenumber_grid(n, ndim, length, device=u.device)[axis]
    if order % 2 and n % 2 == 0:
        k = torch.where(k.abs() == k.abs().max(), torch.zeros_like(k), k) if axis < ndim - 1 else k
    u_hat = torch.fft.rfftn(u.to(torch.float64), dim=dims)
    return torch.fft.irfftn((1j * k) ** order * u_hat, s=u.shape[-ndim:], dim=dims)


def laplacian(u: torch.Tensor, ndim: int, length: float = 1.0) -> torch.Tensor:
    """Spectral Laplacian of a real periodic field over its last ``ndim`` axes."""
    return sum(derivative(u, ndim, axis, 2, length) for axis in range(ndim))
