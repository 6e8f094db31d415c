"""Derivatives of a network's output with respect to its input points (graph kept, so they can be
differentiated again and trained through). When the PINN computed the output by a Taylor pass
(pinn/taylor.py), every operator here reads the derivatives that pass carried, of the output or
of a column of it (``out[:, 1:2]``); otherwise they use reverse-mode autograd.

``x`` is the (n, d) tensor of points the network was evaluated on (with ``requires_grad``), ``u``
an (n, 1) or (n,) output, or a column of a vector output. Axes follow the points' columns: space
first, time last.
"""

from __future__ import annotations

import torch

from pdekit.pinn.taylor import key, lookup


def grad(u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(n, d): du/dx_j for every column j of x.

    Parameters
    ----------
    u : torch.Tensor
        The network's output at ``x``, (n, 1) or (n,).
    x : torch.Tensor
        The points it was evaluated at, (n, d), space first and time last.

    Returns
    -------
    torch.Tensor
        The gradient, (n, d), with its graph (for a vector u, the gradient of the components' sum).
    """
    carried = lookup(u, x, [(j,) for j in range(x.shape[1])])
    if carried is not None:
        return torch.cat(carried, dim=1)
    return torch.autograd.grad(u, x, grad_outputs=torch.ones_like(u), create_graph=True)[0]


def partial(u: torch.Tensor, x: torch.Tensor, axis: int, order: int = 1) -> torch.Tensor:
    """(n, 1): the ``order``-th derivative of u along column ``axis``.

    Parameters
    ----------
    u : torch.Tensor
        The network's output at ``x``, (n, 1) or (n,).
    x : torch.Tensor
        The points it was evaluated at, (n, d), space first and time last.
    axis : int
        The column to differentiate along.
    order : int
        The order of the derivative (the Taylor pass carries up to the third).

    Returns
    -------
    torch.Tensor
        The derivative, (n, 1).
    """
    return derivative(u, x, *([axis] * order))


def derivative(u: torch.Tensor, x: torch.Tensor, *axes: int) -> torch.Tensor:
    """(n, 1): the derivative of u along each of ``axes`` in turn, mixed or not:
    ``derivative(psi, x, 0, 1, 1)`` is psi_xyy.

    Parameters
    ----------
    u : torch.Tensor
        The network's output at ``x``, (n, 1) or (n,), or a column of it.
    x : torch.Tensor
        The points it was evaluated at, (n, d), space first and time last.
    *axes : int
        The columns to differentiate along, one per order (the Taylor pass carries up to three).

    Returns
    -------
    torch.Tensor
        The derivative, (n, 1).
    """
    if not axes:
        return u if u.ndim == 2 else u[:, None]
    carried = lookup(u, x, [key(*axes)])
    if carried is not None:
        return carried[0]
    out = u if u.ndim == 2 else u[:, None]
    for axis in axes:
        out = grad(out, x)[:, axis : axis + 1]
    return out


def laplacian(u: torch.Tensor, x: torch.Tensor, space_dims: int | None = None) -> torch.Tensor:
    """(n, 1): sum of second derivatives over the first ``space_dims`` columns (default: all).

    Parameters
    ----------
    u : torch.Tensor
        The network's output at ``x``, (n, 1) or (n,).
    x : torch.Tensor
        The points it was evaluated at, (n, d), space first and time last.
    space_dims : int or None
        How many leading columns are spatial (None: all columns; pass the spatial dimension when x
        carries time).

    Returns
    -------
    torch.Tensor
        The Laplacian, (n, 1).
    """
    dims = range(space_dims if space_dims is not None else x.shape[1])
    carried = lookup(u, x, [(j, j) for j in dims])
    if carried is not None:
        return sum(carried)
    g = grad(u, x)
    return sum(grad(g[:, j : j + 1], x)[:, j : j + 1] for j in dims)


def divergence(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(n, 1): sum_j d v_j / d x_j for a vector field v (n, k) over the first k columns.

    Parameters
    ----------
    v : torch.Tensor
        The vector field at ``x``, (n, k), k <= d.
    x : torch.Tensor
        The points it was evaluated at, (n, d).

    Returns
    -------
    torch.Tensor
        The divergence, (n, 1).
    """
    return sum(derivative(v[:, j : j + 1], x, j) for j in range(v.shape[1]))


def time_derivative(u: torch.Tensor, x: torch.Tensor, order: int = 1) -> torch.Tensor:
    """(n, 1): derivative along the last column (time).

    Parameters
    ----------
    u : torch.Tensor
        The network's output at ``x``, (n, 1) or (n,).
    x : torch.Tensor
        The points it was evaluated at, (n, d), space first and time last.
    order : int
        The order of the time derivative.

    Returns
    -------
    torch.Tensor
        The derivative, (n, 1).
    """
    return partial(u, x, x.shape[1] - 1, order)
