"""Symmetries of a problem's input -> target map, as data augmentation of the supervised task.

A problem declares its symmetries in ``Problem.symmetries``; ``pair_augmentation`` turns those
that act on a static map (one input slice or coefficient -> one target) into a function that
transforms a batch of pairs ``(x, y)`` by random elements drawn from a seeded generator. Each
transformed pair is the solver's own answer to the transformed input (tests/test_symmetry.py):

- "dihedral": the square's 8 rotations and reflections, one per batch (darcy_2d, heat_2d).
- "translation": a periodic shift of input and target by the same offset per sample and axis
  (heat, Burgers, KdV, Kuramoto-Sivashinsky), by Fourier series: exact for band-limited data; in
  whole grid cells (``whole_cells``) for data stored on every k-th point of a finer solve grid,
  which are not band-limited (a fraction of a cell would be off by 1e-4 to 1e-1 at their start).
- "reflection": x -> -x on a 1D periodic grid (heat_1d).
- "galilean": the boost u0 + c -> u(x - c T, T) + c of u_t + u u_x + L u = 0 (Burgers, KdV, KS;
  data/lie.py), T the time between input and target, c uniform in [-boost, boost].
- "covariance": a smooth change of coordinates phi of the square that fixes its boundary maps
  -div(K grad u) = f to -div(K' grad u') = f' with K' = det(J) J^-1 K(phi) J^-T, f' = det(J) f(phi)
  and u' = u(phi), J the Jacobian of phi (darcy_tensor_2d; Fanaskov, Yu, Rudikov, Oseledets,
  "General Covariance Data Augmentation for Neural PDE Solvers", ICML 2023, who report 23% lower
  test error on average). phi = id + d with d a random sine series vanishing on the boundary,
  scaled so that the largest |grad d| is ``warp`` < 1 (so phi is one-to-one); the fields are
  sampled at phi by bilinear interpolation.
- "superposition": a linear problem (heat) maps cos(theta) (x_i, y_i) + sin(theta) (x_j, y_j) to
  itself; for inputs drawn from a centered Gaussian field the mixture has the inputs' own law, so
  the augmented inputs stay in distribution. A batch of one sample is left as it is (it has no
  partner). (The heat equation's Lie point symmetries also hold
  the scalings x -> l x, t -> l^2 t, and its Galilean boost carries a factor exp(-c x) that no
  periodic domain keeps; the scalings need the solution at another time, which a static pair does
  not hold.)

Parameter channels (drawn per sample, constant in space) come after the fields: shifts and
reflections leave them as they are, a boost adds c to the first field only, superposition is
left out for them (it would mix parameters; ``pair_augmentation`` refuses it,
``problem_augmentation`` applies the problem's other symmetries).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from pdekit.data.lie import refuse_boost_across_lengths, shift, whole_cells as on_whole_cells  # (name: the option's)
from pdekit.errors import ConfigError

MAX_WARP = 0.9  # the coordinate change's largest gradient, measured on a grid: kept well below 1
PAIR_SYMMETRIES = ("dihedral", "translation", "reflection", "galilean", "covariance", "superposition")
Augmentation = Callable[[torch.Tensor, torch.Tensor, torch.Generator], "tuple[torch.Tensor, torch.Tensor]"]


def dihedral(x: torch.Tensor, y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k-th of the square's 8 symmetries (k mod 4 quarter turns, then a reflection for k >= 4),
    applied to inputs and targets alike (the model adds its grid coordinates afterwards, so it sees
    a new sample)."""
    x, y = torch.rot90(x, k % 4, dims=(-2, -1)), torch.rot90(y, k % 4, dims=(-2, -1))
    return (x.flip(-1), y.flip(-1)) if k >= 4 else (x, y)


def shift_axis(u: torch.Tensor, s: torch.Tensor, length: float, dim: int) -> torch.Tensor:
    """u(x - s) along axis ``dim`` of a periodic grid over ``length`` (s: one shift per sample)."""
    moved = u.movedim(dim, -1)
    s = s.view(-1, *([1] * (moved.ndim - 2)))
    return shift(moved, s, length).movedim(-1, dim)


def reflect(u: torch.Tensor) -> torch.Tensor:
    """u(-x) on a periodic grid x_j = j h: the point j goes to -j mod n (x_0 stays)."""
    return torch.roll(u.flip(-1), 1, dims=-1)


def coordinate_change(coefficients: torch.Tensor, warp: float, points: int) -> tuple[torch.Tensor, torch.Tensor]:
    """phi(xi) = xi + d(xi) on the node grid of ``points`` per side, and its Jacobian.

    d_k = s sum_pq c_kpq sin(p pi xi_1) sin(q pi xi_2) with ``coefficients`` c (batch, 2, m, m), s set
    so that the largest Frobenius norm of grad d over a fixed 33 x 33 grid is ``warp`` (the map is
    the same at every data resolution; with two modes per axis the grid's largest value is within
    a few percent of the true one, so train.augment_warp stops at 0.9 to keep phi one-to-one).

    Returns
    -------
    phi : (batch, 2, points, points), the image of each node.
    jacobian : (batch, 2, 2, points, points), J_ab = d phi_a / d xi_b.
    """
    m = coefficients.shape[-1]
    freq = torch.arange(1, m + 1, dtype=torch.float64) * torch.pi

    def fields(n):
        xi = torch.linspace(0, 1, n, dtype=torch.float64)
        sin, cos = torch.sin(freq[:, None] * xi), freq[:, None] * torch.cos(freq[:, None] * xi)  # (m, n)
        d = torch.einsum("bkpq,pi,qj->bkij", coefficients, sin, sin)
        grad = torch.stack([torch.einsum("bkpq,pi,qj->bkij", coefficients, cos, sin),
                            torch.einsum("bkpq,pi,qj->bkij", coefficients, sin, cos)], dim=2)  # (b, 2, 2, n, n)
        return xi, d, grad

    largest = fields(33)[2].pow(2).sum((1, 2)).sqrt().amax((-2, -1))  # (batch,)
    scale = (warp / largest.clamp_min(1e-12)).view(-1, 1, 1, 1)
    xi, d, grad = fields(points)
    phi = torch.stack(torch.meshgrid(xi, xi, indexing="ij")) + scale * d
    return phi, torch.eye(2, dtype=torch.float64)[:, :, None, None] + scale[..., None] * grad


def covariance(x: torch.Tensor, y: torch.Tensor, coefficients: torch.Tensor, warp: float):
    """Pairs ((k11, k12, k22, f), u) on the node grid of the square under the coordinate change of
    ``coordinate_change(coefficients, warp)``: (det J J^-1 K(phi) J^-T, det J f(phi)), u(phi)."""
    phi, jac = (t.to(x.device) for t in coordinate_change(coefficients.cpu(), warp, x.shape[-1]))
    # grid_sample reads (width, height) in [-1, 1]: the last axis is y (phi_2), the one before x (phi_1)
    where = torch.stack([phi[:, 1], phi[:, 0]], dim=-1) * 2 - 1

    def at_phi(field):
        return torch.nn.functional.grid_sample(field.double(), where, mode="bilinear", align_corners=True)

    k11, k12, k22, f = at_phi(x[:, :4]).unbind(1)
    u = at_phi(y)
    det = jac[:, 0, 0] * jac[:, 1, 1] - jac[:, 0, 1] * jac[:, 1, 0]
    # J^-1 = adj / det, so det J^-1 K J^-T = adj K adj^T / det, adj = [[J22, -J12], [-J21, J11]]
    a11, a12, a21, a22 = jac[:, 1, 1], -jac[:, 0, 1], -jac[:, 1, 0], jac[:, 0, 0]
    m11 = a11 * k11 + a12 * k12  # (adj K) rows
    m12 = a11 * k12 + a12 * k22
    m21 = a21 * k11 + a22 * k12
    m22 = a21 * k12 + a22 * k22
    new = torch.stack([(m11 * a11 + m12 * a12) / det, (m11 * a21 + m12 * a22) / det,
                       (m21 * a21 + m22 * a22) / det, det * f], dim=1)
    return torch.cat([new.to(x.dtype), x[:, 4:]], dim=1), u.to(y.dtype)


def pair_augmentation(names: tuple[str, ...], ndim: int, length: float = 1.0, params: int = 0,
                      elapsed: float = 0.0, boost: float = 0.0, warp: float = 0.0,
                      whole_cells: bool = False) -> Augmentation:
    """A function ``(x, y, generator) -> (x, y)`` applying the symmetries ``names`` in the order of
    PAIR_SYMMETRIES, each with its own random element per sample (dihedral: per batch).

    Parameters
    ----------
    names : the symmetries to apply (a subset of PAIR_SYMMETRIES the problem declares).
    ndim : spatial dimensions of the pairs.
    length : the period of the domain (per axis).
    params : parameter channels drawn per sample (the last input channels).
    elapsed : target time minus input time, for "galilean".
    boost : largest boost speed, for "galilean" (0: no boost).
    warp : largest gradient of the coordinate change's displacement, for "covariance", in [0, 0.9].
    whole_cells : shift by whole grid cells only (data that are not band-limited).

    Channels are moved, not transformed: "dihedral" and "reflection" are symmetries of scalar fields
    only (a vector or tensor field's components would change too; pdekit's problems that declare
    them have scalar fields).
    """
    unknown = set(names) - set(PAIR_SYMMETRIES)
    if unknown:
        raise ConfigError(f"unknown symmetries {sorted(unknown)}; known: {', '.join(PAIR_SYMMETRIES)}")
    if ("dihedral" in names or "covariance" in names) and ndim != 2 or ("reflection" in names or "galilean" in names) and ndim != 1:
        raise ConfigError(f"dihedral and covariance act on 2D pairs, reflection and galilean on 1D ones; these are {ndim}D")
    if not 0 <= warp <= MAX_WARP or boost < 0:
        raise ConfigError(f"warp must lie in [0, {MAX_WARP}] and boost be >= 0, got {warp} and {boost}")
    if "superposition" in names and params:
        raise ConfigError("superposition would mix the parameter channels of two samples: draw no parameter per "
                          "sample (data.params.<name>_max) to augment by it")

    def augment(x, y, generator):
        n = len(x)
        if "dihedral" in names:  # first, and one per batch: the draw darcy_fno's recorded runs used
            x, y = dihedral(x, y, int(torch.randint(8, (1,), generator=generator)))
        if "translation" in names:
            for dim in range(-ndim, 0):
                s = torch.rand(n, generator=generator, dtype=torch.float64) * length
                if whole_cells:
                    s = on_whole_cells(s, length, x.shape[dim])
                x, y = shift_axis(x, s, length, dim), shift_axis(y, s, length, dim)
        if "reflection" in names:
            flip = (torch.rand(n, generator=generator) < 0.5).view(-1, *[1] * (x.ndim - 1)).to(x.device)
            x, y = torch.where(flip, reflect(x), x), torch.where(flip, reflect(y), y)
        if "galilean" in names and boost:
            c = (2 * torch.rand(n, generator=generator, dtype=torch.float64) - 1) * boost
            x = x.clone()  # the first field gets c, the parameter channels nothing
            x[:, :1] += c.to(x.dtype).view(-1, 1, 1).to(x.device)
            y = shift_axis(y, c * elapsed, length, -1) + c.to(y.dtype).view(-1, 1, 1).to(y.device)
        if "covariance" in names and warp:
            coefficients = torch.randn(n, 2, 2, 2, generator=generator, dtype=torch.float64)
            x, y = covariance(x, y, coefficients, warp)
        if "superposition" in names and n > 1:
            theta = torch.rand(n, generator=generator, dtype=torch.float64) * 2 * math.pi
            order = torch.randperm(n, generator=generator)
            other = torch.empty_like(order)
            other[order] = order.roll(1)  # a partner other than itself (a random cycle through the batch)
            a = torch.cos(theta).view(-1, *[1] * (x.ndim - 1)).to(x)
            b = torch.sin(theta).view(-1, *[1] * (x.ndim - 1)).to(x)
            x, y = a * x + b * x[other], a * y + b * y[other]
        return x, y

    return augment


def problem_augmentation(problem, data, boost: float = 0.0, warp: float = 0.0) -> Augmentation:
    """The augmentation of a problem's static map from its declared symmetries.

    Parameters
    ----------
    problem : the generated data's Problem instance (its symmetries, dimension, period, parameters).
    data : the recipe's data section (trajectory, input_time, target_time).
    boost : largest boost speed (0: no boost).
    warp : largest gradient of the coordinate change (0: none).
    """
    static = not data.trajectory
    elapsed = problem.times()[data.target_time] - problem.times()[data.input_time] if problem.time_dependent else 0.0
    params = len(problem.sample_params)
    names = tuple(s for s in problem.symmetries if s in PAIR_SYMMETRIES and (s != "galilean" or boost)
                  and (s != "covariance" or warp))
    if not static or not names:
        raise ConfigError(f"train.augment of an operator recipe needs generated data of a problem that declares "
                          f"symmetries of a static map ({', '.join(PAIR_SYMMETRIES)}); {problem.name} declares "
                          f"{', '.join(problem.symmetries) or 'none'}" + ("" if static else " and data.trajectory is set")
                          + " (galilean needs train.augment_boost > 0, covariance train.augment_warp > 0)")
    for asked, symmetry, key in ((boost, "galilean", "augment_boost"), (warp, "covariance", "augment_warp")):
        if asked and symmetry not in problem.symmetries:
            raise ConfigError(f"train.{key} = {asked:g} asks for the {symmetry} symmetry, which {problem.name} does "
                              f"not declare (it declares {', '.join(problem.symmetries) or 'none'}); set it to 0")
    if "galilean" in names:
        refuse_boost_across_lengths(boost, problem.sample_params)
    if "superposition" in names and params:
        names = tuple(s for s in names if s != "superposition")  # the other symmetries still apply
    return pair_augmentation(names, problem.ndim, problem.length, params, elapsed, boost, warp,
                             whole_cells=problem.solve_resolution > problem.resolution)
