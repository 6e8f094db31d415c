"""Forward-mode (Taylor) derivatives of a PINN's output.

A residual such as u_t + u u_x - nu u_xx needs u, u_x, u_t and u_xx at every point. Nested
reverse-mode passes build a graph of graphs; here the value and the pure first and second
derivatives along the needed axes travel through the network together, one matrix product per
layer for all of them (for z = W h + b, s = act(z): s_a = act'(z) z_a, s_aa = act''(z) z_a^2 +
act'(z) z_aa). The result is a plain forward graph, so one backward pass trains through it and
``torch.compile`` can fuse it.

The derivatives are attached to the output tensor; ``partial``, ``grad``, ``laplacian`` and
``time_derivative`` of pinn/operators.py read them from there. A request for one not computed
raises ``Missing``, and the PINN adds it to what it computes; anything else (a mixed derivative, a
derivative of a sliced gradient) makes the PINN fall back to reverse mode.
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch

# (weight, bias, activation derivatives or None) per layer; the activation's callable maps z to
# (act(z), act'(z), act''(z)).
Layers = list[tuple[torch.Tensor, torch.Tensor | None, Callable | None]]


class Missing(Exception):
    """A derivative the Taylor pass did not compute: ``keys`` are (axis, order) pairs."""

    def __init__(self, keys):
        super().__init__(f"derivatives {sorted(keys)} were not computed")
        self.keys = set(keys)


def attach(u: torch.Tensor, x: torch.Tensor, derivatives: dict) -> torch.Tensor:
    """Attach the carried derivatives to ``u`` for the points ``x``, where ``lookup`` finds them.

    Parameters
    ----------
    u : torch.Tensor
        The output, (n, 1).
    x : torch.Tensor
        The points they belong to, (n, d) (matched by identity).
    derivatives : dict
        ``{(axis, order): (n, 1) tensor}``.

    Returns
    -------
    torch.Tensor
        ``u`` itself.
    """
    u.pdekit_taylor = (x, derivatives)
    return u


def lookup(u: torch.Tensor, x: torch.Tensor, keys: list[tuple[int, int]]) -> list[torch.Tensor] | None:
    """The attached derivatives of u along ``keys``, or None when u carries none for these points."""
    attached = getattr(u, "pdekit_taylor", None)
    if attached is None or attached[0] is not x:
        return None
    missing = [k for k in keys if k not in attached[1]]
    if missing:
        raise Missing(missing)
    return [attached[1][k] for k in keys]


def propagate(layers: Layers, h: torch.Tensor, first: list[torch.Tensor], second: list[torch.Tensor],
              pairs: tuple[int, ...]):
    """Push the value h (n, d), its first derivatives ``first`` (one (n, d) per axis) and second
    derivatives ``second`` (second[j] along the axis of first[pairs[j]]) through the layers."""
    n = h.shape[0]
    for weight, bias, act in layers:
        z = torch.cat([h, *first, *second]) @ weight.T
        parts = z.split(n)
        z0 = parts[0] if bias is None else parts[0] + bias
        z1, z2 = parts[1 : 1 + len(first)], parts[1 + len(first) :]
        if act is None:
            h, first, second = z0, list(z1), list(z2)
            continue
        h, d1, d2 = act(z0)
        second = [d2 * z1[p] * z1[p] + d1 * z2[j] for j, p in enumerate(pairs)]
        first = [d1 * z for z in z1]
    return h, first, second


_compiled: dict[str, Callable] = {}


def propagate_compiled(*args):
    """``propagate`` through torch.compile (compiled once per process, per precision and, after a
    second size of the points, for any size); where compiling fails (no C++ compiler, say), a warning
    and the uncompiled pass from then on."""
    if "fn" not in _compiled:
        _compiled["fn"] = torch.compile(propagate, dynamic=None)
    fn = _compiled["fn"]
    if fn is propagate:
        return propagate(*args)
    try:
        return fn(*args)
    except torch._dynamo.exc.TorchDynamoException as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        warnings.warn(f"torch.compile failed ({type(err).__name__}: {reason[:200]}); the Taylor pass runs "
                      "uncompiled (set train.compile: false to skip the attempt)", stacklevel=2)
        _compiled["fn"] = propagate
        return propagate(*args)


def series(f: Callable, x: torch.Tensor, axes: tuple[int, ...]) -> tuple:
    """f(x), [df/dx_a] and [d2f/dx_a^2] for a in ``axes``, detached, of a parameter-free map f that
    acts point by point (row i of f(x) depends on row i of x only), by reverse mode: computed once
    per set of points, so its cost does not matter, and it allows f to use NumPy for masks."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        y = f(x)
        zero = torch.zeros_like(y)
        first, second = [zero.clone() for _ in axes], [zero.clone() for _ in axes]
        for j in range(y.shape[1]):
            if not y.requires_grad:
                break
            (g,) = torch.autograd.grad(y[:, j].sum(), x, create_graph=True, allow_unused=True)
            for i, a in enumerate(axes if g is not None else ()):
                first[i][:, j] = g[:, a].detach()
                if g.requires_grad:
                    (h,) = torch.autograd.grad(g[:, a].sum(), x, retain_graph=True, allow_unused=True)
                    if h is not None:
                        second[i][:, j] = h[:, a]
    return y.detach(), first, second
