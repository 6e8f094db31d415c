"""Small building blocks shared by the models: activations (each with its derivatives up to the
third, for the Taylor pass of physics-informed training), MLPs over features or over the
channels of a grid, convolutions by dimension, grid coordinates."""

from __future__ import annotations

import contextlib
import functools
import math

import torch
from torch import nn

from pdekit.errors import ConfigError


def constant_cache(fn):
    """``functools.lru_cache`` (64 entries) for functions that build constant tensors (DFT matrices,
    kernel bases) from hashable arguments. They are built outside inference mode: a tensor first
    made under ``torch.inference_mode()`` (an evaluation) could not be saved for backward when a
    later training step reuses it from the process-wide cache."""

    @functools.lru_cache(maxsize=64)
    @functools.wraps(fn)
    def build(*args):
        with torch.inference_mode(False):
            return fn(*args)

    return build


def full_precision(device: torch.device):
    """A context with autocast off on ``device`` (nothing to switch off where autocast does not
    exist: the meta device, on which a model's shapes are traced without memory)."""
    if device.type == "meta":
        return contextlib.nullcontext()
    return torch.autocast(device.type, enabled=False)


def _upto(order: int, f, d1, d2, d3):
    """(f, f', ..., f^(order)) from the closed forms; ``d3`` computes the third derivative on demand."""
    if order not in (1, 2, 3):
        raise ConfigError(f"activation derivatives are available up to the third, not order {order}")
    return (f, d1, d2, d3())[: order + 1] if order == 3 else (f, d1, d2)[: order + 1]


class Tanh(nn.Tanh):
    """tanh(x), with its derivatives for the Taylor pass."""

    def derivatives(self, z, order: int = 2):
        """tanh and its derivatives: f' = 1 - tanh^2, f'' = -2 tanh (1 - tanh^2).

        Parameters
        ----------
        z : torch.Tensor
            Pre-activations, any shape.
        order : int
            The highest derivative wanted, 2 or 3.

        Returns
        -------
        tuple of torch.Tensor
            (f(z), f'(z), ..., f^(order)(z)), each shaped like ``z``: what the Taylor pass
            (pinn/taylor.py) needs.
        """
        t = torch.tanh(z)
        d1 = 1 - t * t
        return _upto(order, t, d1, -2 * t * d1, lambda: -2 * d1 * (1 - 3 * t * t))


class Sin(nn.Module):
    """sin(x), with its derivatives for the Taylor pass."""

    def forward(self, x):
        return torch.sin(x)

    def derivatives(self, z, order: int = 2):
        """sin and its derivatives: f' = cos, f'' = -sin.

        Parameters
        ----------
        z : torch.Tensor
            Pre-activations, any shape.
        order : int
            The highest derivative wanted, 2 or 3.

        Returns
        -------
        tuple of torch.Tensor
            (f(z), f'(z), ..., f^(order)(z)), each shaped like ``z``: what the Taylor pass
            (pinn/taylor.py) needs.
        """
        s, c = torch.sin(z), torch.cos(z)
        return _upto(order, s, c, -s, lambda: -c)


class Snake(nn.Module):
    """x + sin^2(a x) / a ("Neural networks fail to learn periodic functions", a = 1 by default)."""

    def __init__(self, a: float = 1.0):
        super().__init__()
        self.a = a

    def forward(self, x):
        return x + torch.sin(self.a * x) ** 2 / self.a

    def derivatives(self, z, order: int = 2):
        """Snake and its derivatives: f' = 1 + sin(2 a z), f'' = 2 a cos(2 a z).

        Parameters
        ----------
        z : torch.Tensor
            Pre-activations, any shape.
        order : int
            The highest derivative wanted, 2 or 3.

        Returns
        -------
        tuple of torch.Tensor
            (f(z), f'(z), ..., f^(order)(z)), each shaped like ``z``: what the Taylor pass
            (pinn/taylor.py) needs.
        """
        s, a = torch.sin(self.a * z), self.a
        return _upto(order, z + s**2 / a, 1 + torch.sin(2 * a * z), 2 * a * torch.cos(2 * a * z),
                     lambda: -4 * a * a * torch.sin(2 * a * z))


class Cauchy(nn.Module):
    """The Cauchy activation of XNet: (l1 x + l2) / (x^2 + d^2), with trainable l1, l2, d."""

    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.d = (nn.Parameter(torch.tensor(v)) for v in (1.0, 0.0, 1.0))

    def forward(self, x):
        return (self.l1 * x + self.l2) / (x**2 + self.d**2)

    def derivatives(self, z, order: int = 2):
        """The Cauchy activation and its derivatives (quotient rule, with q = z^2 + d^2).

        Parameters
        ----------
        z : torch.Tensor
            Pre-activations, any shape.
        order : int
            The highest derivative wanted, 2 or 3.

        Returns
        -------
        tuple of torch.Tensor
            (f(z), f'(z), ..., f^(order)(z)), each shaped like ``z``: what the Taylor pass
            (pinn/taylor.py) needs.
        """
        num, q = self.l1 * z + self.l2, z**2 + self.d**2
        l1, l2, d2 = self.l1, self.l2, self.d**2
        return _upto(order, num / q, self.l1 / q - 2 * z * num / q**2, (8 * z * z * num / q - 4 * self.l1 * z - 2 * num) / q**2,
                     lambda: -6 * (d2 * d2 * l1 - 6 * d2 * l1 * z**2 - 4 * d2 * l2 * z + l1 * z**4 + 4 * l2 * z**3) / q**4)


class GELU(nn.GELU):
    """x Phi(x) (the exact form)."""

    def derivatives(self, z, order: int = 2):
        """GELU and its derivatives: f' = Phi + z phi, f'' = phi (2 - z^2), phi the normal density.

        Parameters
        ----------
        z : torch.Tensor
            Pre-activations, any shape.
        order : int
            The highest derivative wanted, 2 or 3.

        Returns
        -------
        tuple of torch.Tensor
            (f(z), f'(z), ..., f^(order)(z)), each shaped like ``z``: what the Taylor pass
            (pinn/taylor.py) needs.
        """
        cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
        pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return _upto(order, z * cdf, cdf + z * pdf, pdf * (2 - z * z), lambda: pdf * z * (z * z - 4))


class SiLU(nn.SiLU):
    """x sigmoid(x), with its derivatives for the Taylor pass."""

    def derivatives(self, z, order: int = 2):
        """SiLU and its derivatives: f' = s (1 + z (1 - s)), f'' = s (1 - s) (2 + z (1 - 2 s)), s = sigmoid(z).

        Parameters
        ----------
        z : torch.Tensor
            Pre-activations, any shape.
        order : int
            The highest derivative wanted, 2 or 3.

        Returns
        -------
        tuple of torch.Tensor
            (f(z), f'(z), ..., f^(order)(z)), each shaped like ``z``: what the Taylor pass
            (pinn/taylor.py) needs.
        """
        s = torch.sigmoid(z)
        return _upto(order, z * s, s * (1 + z * (1 - s)), s * (1 - s) * (2 + z * (1 - 2 * s)),
                     lambda: s * (1 - s) * (6 * s * s * z - 6 * s * z - 6 * s + z + 3))


class ReLU(nn.ReLU):
    """max(x, 0), with its derivatives for the Taylor pass."""

    def derivatives(self, z, order: int = 2):
        """ReLU and its derivatives: f' is the step (0 at z = 0), f'' is zero.

        Parameters
        ----------
        z : torch.Tensor
            Pre-activations, any shape.
        order : int
            The highest derivative wanted, 2 or 3.

        Returns
        -------
        tuple of torch.Tensor
            (f(z), f'(z), ..., f^(order)(z)), each shaped like ``z``: what the Taylor pass
            (pinn/taylor.py) needs.
        """
        zero = torch.zeros_like(z)
        return _upto(order, torch.relu(z), (z > 0).to(z.dtype), zero, lambda: zero)


ACTIVATIONS = {"gelu": GELU, "relu": ReLU, "tanh": Tanh, "silu": SiLU, "sin": Sin, "snake": Snake, "cauchy": Cauchy}


def activation(name: str) -> nn.Module:
    """A new activation module by name (one of ACTIVATIONS)."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation '{name}'; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def conv_nd(ndim: int, *args, **kwargs) -> nn.Module:
    """nn.Conv1d / Conv2d / Conv3d by number of spatial dimensions."""
    if ndim not in (1, 2, 3):
        raise ConfigError(f"convolutions work on 1, 2 or 3 spatial dimensions, got ndim = {ndim}")
    return (nn.Conv1d, nn.Conv2d, nn.Conv3d)[ndim - 1](*args, **kwargs)


class GridPadding:
    """Mixin of the convolutional models whose padding follows the data's grid: ``padding_mode``
    "auto" pads circularly on a periodic grid (its ends are neighbours) and with zeros on nodes
    (its ends are the domain's boundary). That is grid revision 3; before it they padded with
    ``old_padding`` on every grid, as ``as_revision`` rebuilds an older checkpoint's model
    (``registry.as_trained``)."""

    grid_revision = 3
    old_padding: str  # set by each model

    def _padding(self, mode: str, grid: str) -> str:
        """The padding mode to build with (``mode``, or for "auto" the grid's); recorded."""
        self.padding_given = mode != "auto"
        self.padding_mode = mode if self.padding_given else "circular" if grid == "periodic" else "zeros"
        return self.padding_mode

    @classmethod
    def as_revision(cls, config: dict, grid: str, revision: int) -> tuple[dict, str]:
        """Before grid revision 3 the default padding was ``old_padding`` on every grid."""
        return {"padding_mode": cls.old_padding, **config}, grid

    def same_since(self, revision: int) -> bool:
        """Whether this model reads the data as one built by grid revision ``revision`` with the
        same config did (its padding given, or "auto" giving the old default): then a checkpoint
        of that revision may resume."""
        return self.padding_given or self.padding_mode == self.old_padding


def mlp(sizes: list[int], act: str = "gelu", ndim: int = 0) -> nn.Sequential:
    """Linear layers sizes[0] -> sizes[1] -> ... with the activation between them (none after the
    last): over the features of (n, sizes[0]) inputs (``ndim`` 0), or pointwise over the channels of
    a grid (batch, sizes[0], *space) with ``ndim`` spatial dimensions (1x1 convolutions)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(activation(act))
        layers.append(conv_nd(ndim, a, b, 1) if ndim else nn.Linear(a, b))
    return nn.Sequential(*layers)


def grid_channels(x: torch.Tensor, ndim: int, periodic: bool = False) -> torch.Tensor:
    """Append coordinates (one channel per spatial dimension) to x (batch, c, *space): the data's own
    points, j / n on a periodic grid, j / (n - 1) on a node grid with both ends, so a point has the
    same coordinate at every resolution."""
    batch, space = x.shape[0], x.shape[2:]
    axes = [torch.arange(n, device=x.device, dtype=x.dtype) / n if periodic else
            torch.linspace(0, 1, n, device=x.device, dtype=x.dtype) for n in space]
    mesh = torch.meshgrid(*axes, indexing="ij")
    grid = torch.stack(mesh).unsqueeze(0).expand(batch, ndim, *space)
    return torch.cat([x, grid], dim=1)
