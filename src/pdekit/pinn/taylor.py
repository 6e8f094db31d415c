"""Forward-mode (Taylor) derivatives of a PINN's output.

A residual such as u_t + u u_x - nu u_xx needs u, u_x, u_t and u_xx at every point. Nested
reverse-mode passes build a graph of graphs; here the value and every derivative the residual
takes travel through the network together, one matrix product per layer for all of them. A
derivative is named by its key, the sorted tuple of the axes it differentiates along: (0,) is
u_x, (0, 1) u_xy, (1, 1, 1) u_yyy. For z = W h + b each derivative of z is W times that of h; for
s = act(z), Faa di Bruno's formula sums over the partitions of the key: s_a = act' z_a,
s_ab = act'' z_a z_b + act' z_ab, s_abc = act''' z_a z_b z_c + act'' (z_ab z_c + z_ac z_b + z_bc z_a)
+ act' z_abc. The result is a plain forward graph, so one backward pass trains through it and
``torch.compile`` can fuse it. Keys up to the third order are carried (the activations give their
derivatives up to the third).

The derivatives are attached to the output tensor; the operators of pinn/operators.py read them
from there, also through a column slice of a vector output (``out[:, 1:2]``, ``out[:, 1]``,
``out.split(1, dim=1)``: views of it). A request for one not computed raises ``Missing``, and the
PINN adds it, with every lower derivative it needs, to what it computes; anything else (a
derivative of a sliced gradient, say) makes the PINN fall back to reverse mode.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Callable

import torch

# (weight, bias, activation derivatives or None) per layer; the activation's callable maps
# (z, order) to (act(z), act'(z), ..., act^(order)(z)).
Layers = list[tuple[torch.Tensor, torch.Tensor | None, Callable | None]]
Key = tuple[int, ...]
MAX_ORDER = 3


class Missing(Exception):
    """Derivatives the Taylor pass did not compute: ``keys`` are sorted tuples of axes."""

    def __init__(self, keys):
        super().__init__(f"derivatives {sorted(keys)} were not computed")
        self.keys = set(keys)


def key(*axes: int) -> Key:
    """The key of the derivative along ``axes`` (in any order): key(1, 0) == (0, 1)."""
    return tuple(sorted(int(a) for a in axes))


def closure(keys) -> tuple[Key, ...]:
    """The keys and every lower derivative they are built from (all sub-multisets), by order."""
    out = set()
    for k in keys:
        for mask in range(1, 2 ** len(k)):
            out.add(tuple(a for i, a in enumerate(k) if mask >> i & 1))
    return tuple(sorted(out, key=lambda k: (len(k), k)))


@functools.lru_cache(maxsize=None)
def partitions(k: Key) -> tuple[tuple[Key, ...], ...]:
    """The set partitions of the positions of ``k``, each block as its key: Faa di Bruno's terms."""
    def split(items):
        if not items:
            yield []
            return
        first, rest = items[0], items[1:]
        for part in split(rest):
            for i in range(len(part)):
                yield part[:i] + [[first] + part[i]] + part[i + 1 :]
            yield [[first]] + part

    return tuple(tuple(key(*(k[i] for i in block)) for block in part) for part in split(list(range(len(k)))))


@functools.lru_cache(maxsize=None)
def leibniz(k: Key) -> tuple[tuple[Key, Key], ...]:
    """The (key of a, key of b) pairs of the product rule for d^k (a b), over subsets of positions
    (the empty key is the value)."""
    n = len(k)
    return tuple((tuple(k[i] for i in range(n) if mask >> i & 1), tuple(k[i] for i in range(n) if not mask >> i & 1))
                 for mask in range(2 ** n))


def attach(u: torch.Tensor, x: torch.Tensor, derivatives: dict) -> torch.Tensor:
    """Attach the carried derivatives to ``u`` for the points ``x``, where ``lookup`` finds them.

    Parameters
    ----------
    u : torch.Tensor
        The output, (n, k), not a view of another tensor.
    x : torch.Tensor
        The points they belong to, (n, d) (matched by identity).
    derivatives : dict
        ``{key: (n, k) tensor}``.

    Returns
    -------
    torch.Tensor
        ``u`` itself.
    """
    u.pdekit_taylor = (x, derivatives)
    return u


def _columns(u: torch.Tensor):
    """(attached, column slice) where u is the carrying output or a slice of its columns, else None."""
    attached = getattr(u, "pdekit_taylor", None)
    if attached is not None:
        return attached, slice(None)
    base = u._base
    attached = getattr(base, "pdekit_taylor", None) if base is not None else None
    if attached is None or base.ndim != 2 or not base.is_contiguous() or u.shape[:1] != base.shape[:1]:
        return None
    start, width = u.storage_offset() - base.storage_offset(), (u.shape[1] if u.ndim == 2 else 1)
    rows_match = u.stride(0) == base.stride(0) and (u.ndim == 1 or width == 1 or u.stride(1) == 1)
    if u.ndim not in (1, 2) or not rows_match or not 0 <= start <= base.shape[1] - width:
        return None
    return attached, slice(start, start + width)


def lookup(u: torch.Tensor, x: torch.Tensor, keys: list[Key]) -> list[torch.Tensor] | None:
    """The attached derivatives of u along ``keys``, each (n, 1) (the sum over u's columns where it
    has several, as reverse mode's gradient of a vector output is), or None when u carries none
    for these points."""
    found = _columns(u)
    if found is None or found[0][0] is not x:
        return None
    (_, carried), columns = found
    missing = [k for k in keys if k not in carried]
    if missing:
        raise Missing(missing)
    return [carried[k][:, columns].sum(1, keepdim=True) for k in keys]


def propagate(layers: Layers, h: torch.Tensor, derivatives: list[torch.Tensor], keys: tuple[Key, ...],
              plan: tuple | None = None):
    """Push the value h (n, d) and its derivatives (``derivatives[i]`` along ``keys[i]``, a
    ``closure``) through the layers; returns the output's value and derivatives alike. ``plan``:
    ``partitions`` of every key, made by the caller where the pass is compiled (outside the traced
    code)."""
    plan = plan if plan is not None else tuple(partitions(k) for k in keys)
    n = h.shape[0]
    order = max([len(k) for k in keys] + [1])  # (torch.compile does not take max's default)
    for weight, bias, act in layers:
        z = torch.cat([h, *derivatives]) @ weight.T
        parts = z.split(n)
        z0 = parts[0] if bias is None else parts[0] + bias
        if act is None:
            h, derivatives = z0, list(parts[1:])
            continue
        zk = dict(zip(keys, parts[1:]))
        f = act(z0, order)
        h = f[0]
        derivatives = []
        for terms in plan:
            total = None
            for blocks in terms:
                term = f[len(blocks)]
                for b in blocks:
                    term = term * zk[b]
                total = term if total is None else total + term
            derivatives.append(total)
    return h, derivatives


_compiled: dict[str, Callable] = {}
_checked: set = set()  # the call signatures whose compiled result was compared with the uncompiled one
# largest difference from the uncompiled pass, relative to its largest value, that rounding explains
_AGREE = {torch.float64: 1e-9}
_AGREE_DEFAULT = 1e-3


def _disagreement(compiled, eager) -> float:
    """The largest difference between two outputs of ``propagate``, relative to the largest value of
    each output (at least a thousandth of the largest of all); inf where one is not finite where the
    other is."""
    pairs = list(zip([compiled[0], *compiled[1]], [eager[0], *eager[1]]))
    scale = max(float(b.abs().nan_to_num(posinf=0, neginf=0).max()) for _, b in pairs) or 1.0
    worst = 0.0
    for a, b in pairs:
        finite = torch.isfinite(b)
        if not torch.equal(torch.isfinite(a), finite):
            return math.inf
        gap = float((a - b)[finite].abs().max()) if finite.any() else 0.0
        # an output far smaller than the others carries their rounding: measured against a thousandth of them
        worst = max(worst, gap / max(float(b[finite].abs().max()) if finite.any() else 0.0, 1e-3 * scale))
    return worst


def _signature(layers, h: torch.Tensor, keys, grad: bool) -> tuple:
    """What a compiled pass is specialised on: precision, device, points, keys, each layer's weight
    shape, bias and activation, and whether autograd records (a recompile for any of them is checked)."""
    net = tuple((tuple(w.shape), b is not None, getattr(act, "__qualname__", type(act).__name__))
                for w, b, act in layers)
    return h.dtype, h.device.type, tuple(h.shape), tuple(keys), net, grad


def propagate_compiled(*args):
    """``propagate`` through torch.compile (compiled once per process, per precision and, after a
    second size of the points, for any size); where compiling fails (no C++ compiler, say), a warning
    and the uncompiled pass from then on. The first result of each kind of call (precision, device,
    keys, layers, points) is compared with the uncompiled pass: a compiler fault (a miscompiled
    kernel, a kernel cache built for another instruction set) would otherwise train on wrong
    derivatives without a sign; on disagreement, a warning and the uncompiled pass from then on."""
    if "fn" not in _compiled:
        _compiled["fn"] = torch.compile(propagate, dynamic=None)
    fn = _compiled["fn"]
    if fn is propagate:
        return propagate(*args)
    try:
        out = fn(*args)
    except torch._dynamo.exc.TorchDynamoException as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        warnings.warn(f"torch.compile failed ({type(err).__name__}: {reason[:200]}); the Taylor pass runs "
                      "uncompiled (set train.compile: false to skip the attempt)", stacklevel=2)
        _compiled["fn"] = propagate
        return propagate(*args)
    layers, h, _, keys = args[:4]
    signature = _signature(layers, h, keys, torch.is_grad_enabled())
    if signature not in _checked:
        with torch.no_grad():
            gap = _disagreement(out, propagate(*args))
        if gap > _AGREE.get(h.dtype, _AGREE_DEFAULT):
            warnings.warn(f"torch.compile's Taylor pass differs from the uncompiled one by {gap:.3g} (relative); "
                          "it runs uncompiled from now on (set train.compile: false to skip the attempt)",
                          stacklevel=2)
            _compiled["fn"] = propagate
            return propagate(*args)
        _checked.add(signature)
    return out


def series(f: Callable, x: torch.Tensor, keys: tuple[Key, ...]) -> tuple[torch.Tensor, dict]:
    """f(x) and its derivatives {key: (n, k)} along ``keys`` (a ``closure``), detached, of a
    parameter-free map f that acts point by point (row i of f(x) depends on row i of x only), by
    nested reverse mode: computed once per set of points, so its cost does not matter, and it
    allows f to use NumPy for masks."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        y = f(x)
        graphs = {(): y}
        for k in keys:  # by order: the key without its last axis is already there
            prev = graphs.get(k[:-1])
            columns = []
            for j in range(y.shape[1]):
                g = None
                if prev is not None and prev.requires_grad:
                    (g,) = torch.autograd.grad(prev[:, j].sum(), x, create_graph=True, allow_unused=True)
                columns.append(torch.zeros_like(y[:, 0]) if g is None else g[:, k[-1]])
            graphs[k] = torch.stack(columns, 1)
    return y.detach(), {k: graphs[k].detach() for k in keys}
