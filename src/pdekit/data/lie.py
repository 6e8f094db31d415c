"""Lie point symmetries of 1D periodic evolution equations, as data augmentation (Brandstetter,
Welling and Worrall, "Lie point symmetry data augmentation for neural PDE solvers", ICML 2022).

For u_t + u u_x + L u = 0 with L linear, translation-invariant and without a u_x term (Burgers,
KdV, Kuramoto-Sivashinsky), a solution u(x, t) gives the solutions

- space translation: u(x - s, t);
- Galilean boost: u(x - c t, t) + c,

both on the same periodic domain. A problem declares them in ``Problem.symmetries``
("translation", "galilean"); tests check that the solver's answer to the transformed initial
state is the transformed solution. Shifts by a fraction of a grid cell are Fourier shifts, exact
for band-limited data; data stored on every k-th point of a finer solve grid are not, and the
rollout task shifts them by whole cells (``RolloutTask(whole_cells=True)``); a boost's shift c t
stays fractional, on the later frames, which the solver has smoothed (errors of 1e-7 measured).
"""

from __future__ import annotations

import torch

from pdekit.errors import ConfigError
from pdekit.numerics import spectral

SYMMETRIES = ("translation", "galilean")


def shift(u: torch.Tensor, s: torch.Tensor, length: float) -> torch.Tensor:
    """u(x - s) along the last axis of a periodic grid over ``length``, by its Fourier series.

    Parameters
    ----------
    u : (..., n) values on x_j = x_0 + length j / n.
    s : shifts broadcasting against u's leading axes (one per sample, say (batch, 1, ..., 1)).
    length : the period.

    Returns
    -------
    torch.Tensor : shaped like u.
    """
    n = u.shape[-1]
    k = spectral.wavenumbers(n, length, real=True, device=u.device)
    # (irfft keeps only the real part of an even grid's Nyquist mode: a shifted cosine there)
    return torch.fft.irfft(torch.fft.rfft(u.double()) * torch.exp(-1j * k * s.to(u.device, torch.float64)[..., None]), n=n).to(u.dtype)


def whole_cells(s: torch.Tensor, length: float, n: int) -> torch.Tensor:
    """Shifts s in [0, length) moved down to whole cells of an n-point periodic grid (a shift that is
    a roll: exact for data that are not band-limited)."""
    return torch.floor(s * n / length) * (length / n)


def transform(u: torch.Tensor, t: torch.Tensor, s: torch.Tensor, c: torch.Tensor, length: float) -> torch.Tensor:
    """Trajectories (batch, steps, channels, x) at times ``t`` (steps,), translated by s and boosted
    by c per sample ((batch,) each): u(x - s - c t, t) + c.

    Parameters
    ----------
    u : (batch, steps, channels, x), the first channel the velocity-like field the boost adds c to
        (the problems that declare "galilean" have that one field).
    t : the times of the steps, (steps,); only differences matter (a common offset is a translation).
    s, c : (batch,) shift and boost speed.
    length : the period.
    """
    offset = s.double()[:, None] + c.double()[:, None] * t.double().to(c.device)[None]  # (batch, steps)
    out = shift(u, offset[:, :, None], length)  # (the draws may sit on the CPU beside data on a GPU)
    return out + c.to(u.device, u.dtype).view(-1, 1, 1, 1)


def refuse_boost_across_lengths(boost: float, sample_params) -> None:
    """A Galilean boost shifts by c t, which is a different fraction of each sample's period when
    the length is drawn per sample: refuse it there (periodic shifts stay symmetries)."""
    if boost and "length" in sample_params:
        raise ConfigError("train.augment_boost: a Galilean boost moves each sample by c t in its own length, and "
                          "data.params draws the length per sample: set train.augment_boost: 0 (periodic shifts "
                          "only) or data.params.length_max: 0")


def check_symmetries(problem_cls, boost: float) -> None:
    """Refuse augmentation of data whose problem does not declare the symmetries it would use."""
    from pdekit.problems import PROBLEMS

    needed = ("translation", "galilean") if boost else ("translation",)
    missing = [s for s in needed if s not in getattr(problem_cls, "symmetries", ())]
    able = sorted(name for name, cls in PROBLEMS.items() if cls.kind == "grid" and cls.ndim == 1
                  and all(s in cls.symmetries for s in needed))
    if missing:
        raise ConfigError(f"train.augment uses {', '.join(needed)}, which {problem_cls.name} does not declare "
                          f"(its symmetries: {', '.join(problem_cls.symmetries) or 'none'}); "
                          + ("set train.augment_boost: 0 for translations only" if missing == ["galilean"]
                             else f"augmentation of rollouts needs one of: {', '.join(able)}"))
    if problem_cls.ndim != 1:
        raise ConfigError(f"train.augment of a rollout transforms 1D periodic trajectories; {problem_cls.name} is "
                          f"{problem_cls.ndim}D (1D problems that declare {', '.join(needed)}: {', '.join(able)})")
