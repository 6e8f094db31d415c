"""Transform Once (T1, Poli et al. 2022): transform the input once, learn on its truncated spectrum,
transform back once.

The transforms are real and computed as products with cached basis matrices (the kept modes are
few next to the grid, so this is cheaper than FFTs and their inverses, forward and backward):

- "dct": the cosine transform of the data's grid. On a node grid (x_j = j / (n - 1), both ends
  sampled) this is the DCT-I, whose even extension about the two end points is the data's own: a
  field that is a sum of cos(pi k x), k < n - 1, has the same coefficients at every resolution.
  (A DCT-II assumes cell centres (j + 1/2) / n: on the node grid the coefficients of
  cos(pi x) + 0.5 cos(3 pi x) + 0.3 move by 1.2% between 65 and 129 nodes.)
  On a periodic grid (x_j = j / n) the wrap-around point x = 1 (the first sample's copy) is
  appended and the same DCT-I is taken over n + 1 nodes.
- "dft": the real Fourier series, cos(2 pi k x) and sin(2 pi k x) for k = 0..m-1 along every
  axis: the real and imaginary parts of the rfft's modes |k| < m (exactly those of an rfft along
  the last axis and an fft along the others, by an invertible real change of basis), the modes at
  and above the Nyquist frequency left out. On a node grid the points j / (n - 1), j < n - 1, are
  taken as one period (the value at x = 1 is not read, and the output there repeats x = 0).

Coefficients are normalized by the number of points and scaled by sqrt(e_k) (e_k = 2 for a mode
and its mirror image folded together, 1 for k = 0), so that the sum of their squares is the mean
square of the band-limited field (Parseval; for the DCT with the trapezoid rule's half weights at
the two ends of the node grid, or of the periodic grid closed by x = 1) and does not depend on the
resolution.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.registry import check_grid, register_model
from pdekit.nn import ACTIVATIONS, activation, constant_cache

TRANSFORMS = ("auto", "dct", "dft")
MIXINGS = ("dense", "separable")


@constant_cache
def _basis(n: int, m: int, kind: str, periodic: bool, device: torch.device,
           dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward (n, M) and inverse (M, n) matrices of one axis: ``u @ forward`` are the kept,
    normalized coefficients of samples ``u``, ``c @ inverse`` the field they describe. M is m for
    the DCT and 2 m - 1 for the DFT (cosines k = 0..m-1, then sines k = 1..m-1); modes the grid
    cannot resolve get zero columns and rows."""
    f64 = torch.float64
    k = torch.arange(m, dtype=f64)
    scale = torch.full((m,), math.sqrt(2.0), dtype=f64)
    scale[0] = 1.0
    if kind == "dct":
        big_n = n if periodic else n - 1  # the nodes j / big_n, j = 0..big_n
        j = torch.arange(big_n + 1, dtype=f64)
        if m > big_n:
            scale[big_n] = 1.0  # cos(pi j), the highest mode, has no mirror image
        scale = scale * (k <= big_n)
        inverse = scale[:, None] * torch.cos(math.pi * torch.outer(k, j) / big_n)
        weight = torch.ones(big_n + 1, dtype=f64)
        weight[0] = weight[-1] = 0.5  # the trapezoid rule: exact for the cosines of the grid
        forward = weight[:, None] * inverse.T / big_n
        if periodic:  # the appended point x = 1 is the sample at x = 0
            forward = torch.cat([forward[:1] + forward[-1:], forward[1:-1]])
            inverse = inverse[:, :-1]
    else:
        big_n = n if periodic else n - 1  # the period, in points
        j = torch.arange(big_n, dtype=f64)
        scale = scale * (2 * k < big_n)  # strictly below the Nyquist frequency
        angle = 2 * math.pi * torch.outer(k, j) / big_n
        inverse = torch.cat([scale[:, None] * torch.cos(angle), -(scale[:, None] * torch.sin(angle))[1:]])
        forward = inverse.T / big_n
        if not periodic:  # x = 1 is the period's first point again: not read, and written as x = 0
            forward = torch.cat([forward, torch.zeros_like(forward[:1])])
            inverse = torch.cat([inverse, inverse[:, :1]], dim=1)
    return forward.to(device, dtype), inverse.to(device, dtype)


@register_model("t1")
class T1(nn.Module):
    """Transform Once (Poli, Massaroli, Berto, Park, Ermon, "Transform Once: Efficient Operator
    Learning in Frequency Domain", NeurIPS 2022): the input is transformed once (DCT or DFT), its
    lowest ``modes`` per axis are kept, every layer acts on that truncated spectrum, and the result
    is transformed back once, the dropped modes zero-filled. Maps ``(batch, in_channels, *space)``
    to ``(batch, out_channels, *space)`` at any resolution; the output is band-limited to the kept
    modes.

    In frequency space: a linear lift of each mode's channels to ``hidden_channels``, then
    ``n_layers`` layers z <- act(W z + K z + b), then a linear projection of each mode's channels to
    ``out_channels``. W mixes the channels of each mode (a real matrix per mode, as the FNO's
    weights are per mode), K mixes the modes, the same map for every channel: a dense matrix over
    all M kept coefficients ("dense"), or the Kronecker product of one matrix per axis
    ("separable": every output mode still depends on every input mode, with far fewer weights). The
    activation acts on the real coefficients. Mode mixing is what the paper's T1 adds to the FNO's
    per-mode weights, which never couple two modes (and a nonlinearity applied in frequency space
    does not either): an output mode must depend on all the input's modes, as the solution of a
    nonlinear problem does. A dense map over the flattened (channels x modes) block, as in the
    paper, would take (hidden_channels M)^2 weights per layer (67 million for 32 channels and
    16 x 16 modes); W + K, the sum of a channel map per mode and a mode map per channel, keeps both
    kinds of mixing with hidden_channels^2 M + M^2 weights (1.4 million in all for Darcy's defaults,
    16 x 16 DCT modes, against 2.4 million for the FNO of the darcy_fno recipe). The DFT's 2 m - 1
    coefficients per axis make a dense K large (923,521 weights per layer at 31 x 31): "separable"
    takes 2 x 961 there.

    The paper trains with the loss on the spectrum; ``spectrum`` gives a target's truncated,
    normalized transform. By Parseval the relative L2 of the kept modes is the spatial relative L2
    of the target's band-limited projection (on a node grid: with the trapezoid rule's half
    weights at the boundary points; the DCT on a periodic grid: on the closed grid, x = 1
    included, where its odd modes need not repeat x = 0). As the output is band-limited, the spatial error is that
    spectral error plus the target's own energy beyond the kept modes, which no parameter changes:
    pdekit's usual relative L2 loss on the output trains the model as the spectral loss does, and
    is what a recipe uses.

    Parameters
    ----------
    in_channels, out_channels : channels of the input ``(batch, in_channels, *space)`` and of the
        output ``(batch, out_channels, *space)`` (set from the data by recipes).
    ndim : spatial dimensions, 1 or 2.
    grid : where the data's points lie: "nodes" (x_j = j / (n - 1)) or "periodic" (x_j = j / n); set
        from the data by recipes. It chooses the transform's grid and, with ``transform`` "auto",
        the transform.
    modes : modes kept per axis, an int for every axis or one per axis: the DCT keeps k = 0..m-1
        (m coefficients), the DFT |k| < m (2 m - 1 real coefficients: cosines and sines).
    hidden_channels : channels of each mode inside the layers.
    n_layers : number of frequency-space layers.
    transform : "dct" (cosine transform: non-periodic data), "dft" (Fourier series: periodic data)
        or "auto" (dct on a node grid, dft on a periodic one).
    mode_mixing : the mode map K of each layer: "dense" (an M x M matrix, M the kept coefficients)
        or "separable" (the Kronecker product of an M_a x M_a matrix per axis).
    activation_fn : the nonlinearity applied to the coefficients: "gelu", "relu", "tanh", "silu",
        ... (pdekit.nn.ACTIVATIONS).
    """

    summary = "Transform Once: layers on the truncated DCT/DFT spectrum, one transform each way, 1D/2D"
    resolution_invariant = True

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int = 2, grid: str = "nodes",
                 modes: int | list[int] = 16, hidden_channels: int = 32, n_layers: int = 4, transform: str = "auto",
                 mode_mixing: str = "dense", activation_fn: str = "gelu"):
        super().__init__()
        if ndim not in (1, 2):
            raise ConfigError(f"T1 supports 1 or 2 spatial dimensions, got ndim = {ndim}")
        check_grid("T1", grid)
        counts = [modes] * ndim if isinstance(modes, int) else list(modes)
        if len(counts) != ndim or any(not isinstance(m, int) or m < 1 for m in counts):
            raise ConfigError(f"T1: modes (model.modes in a recipe) must be a positive int or one positive int per "
                              f"spatial dimension ({ndim} here), got {modes}")
        if transform not in TRANSFORMS:
            raise ConfigError(f"T1: unknown transform {transform!r} (model.transform); choose {', '.join(TRANSFORMS)}")
        if hidden_channels < 1 or n_layers < 1:
            raise ConfigError(f"T1: hidden_channels and n_layers must be positive, got {hidden_channels} and "
                              f"{n_layers}")
        if mode_mixing not in MIXINGS:
            raise ConfigError(f"T1: unknown mode_mixing {mode_mixing!r} (model.mode_mixing); choose {', '.join(MIXINGS)}")
        if activation_fn not in ACTIVATIONS:
            raise ConfigError(f"T1: unknown activation_fn {activation_fn!r}; choose {', '.join(ACTIVATIONS)}")
        if transform == "auto":
            transform = "dft" if grid == "periodic" else "dct"
        self.ndim, self.grid, self.transform, self.modes = ndim, grid, transform, tuple(counts)
        self.sizes = tuple(m if transform == "dct" else 2 * m - 1 for m in counts)  # coefficients per axis
        size, width = math.prod(self.sizes), hidden_channels

        def uniform(*shape, fan_in):  # torch.nn.Linear's initialization
            bound = 1 / math.sqrt(fan_in)
            return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))

        # every weight is laid out (mode, in, out) or (mode, mode): the hidden state is (mode, batch, channel)
        self.lift = uniform(size, in_channels, width, fan_in=in_channels)
        self.lift_bias = uniform(size, 1, width, fan_in=in_channels)
        # W and K add up, each initialized as a linear layer of its own fan-in, scaled by 1/sqrt(2)
        self.channel_weights = nn.ParameterList(uniform(size, width, width, fan_in=2 * width) for _ in range(n_layers))
        self.mode_mixing = mode_mixing
        if mode_mixing == "dense":  # one (M, M) matrix per layer
            self.mode_weights = nn.ParameterList(uniform(size, size, fan_in=2 * size) for _ in range(n_layers))
        else:  # one (M_a, M_a) matrix per axis and layer, their Kronecker product the mode map
            self.mode_weights = nn.ParameterList(uniform(m, m, fan_in=m * (2 if axis == 0 else 1))
                                                 for _ in range(n_layers) for axis, m in enumerate(self.sizes))
        self.biases = nn.ParameterList(uniform(size, 1, width, fan_in=width) for _ in range(n_layers))
        self.project = uniform(size, width, out_channels, fan_in=width)
        self.project_bias = uniform(size, 1, out_channels, fan_in=width)
        self.act = activation(activation_fn)

    def _bases(self, space, x: torch.Tensor):
        if min(space) < 2:
            raise ConfigError(f"T1 needs at least 2 points per axis, got a grid of {tuple(space)}")
        return [_basis(n, m, self.transform, self.grid == "periodic", x.device, x.dtype)
                for n, m in zip(space, self.modes)]

    def spectrum(self, u: torch.Tensor) -> torch.Tensor:
        """The kept, normalized coefficients of a field: the transform the model applies to its input,
        and the frequency-space target of the paper's loss.

        Parameters
        ----------
        u : torch.Tensor
            Samples (batch, channels, *space) on the model's grid, any resolution.

        Returns
        -------
        torch.Tensor
            (batch, channels, M_1, ..., M_ndim), M = m for the DCT and 2 m - 1 for the DFT (cosines
            k = 0..m-1, then sines k = 1..m-1): the same numbers at every resolution for a field
            within the kept modes, and their sum of squares is the field's mean square (Parseval).
        """
        bases = self._bases(u.shape[2:], u)
        if self.ndim == 1:
            return u @ bases[0][0]
        return torch.matmul(bases[0][0].T, u @ bases[1][0])

    def field(self, coefficients: torch.Tensor, space: tuple[int, ...]) -> torch.Tensor:
        """The inverse of ``spectrum``: the band-limited field with these coefficients (the other modes
        zero) on a grid of ``space`` points.

        Parameters
        ----------
        coefficients : torch.Tensor
            (batch, channels, M_1, ..., M_ndim), as ``spectrum`` returns.
        space : tuple of int
            Points per axis of the grid to sample on.

        Returns
        -------
        torch.Tensor
            (batch, channels, *space).
        """
        bases = self._bases(tuple(space), coefficients)
        if self.ndim == 1:
            return coefficients @ bases[0][1]
        return torch.matmul(bases[0][1].T, coefficients @ bases[1][1])

    def _mix_modes(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        """Layer ``layer``'s mode map K applied to each channel of z (mode, batch, channel)."""
        size, batch, width = z.shape
        if self.mode_mixing == "dense":
            return (self.mode_weights[layer] @ z.reshape(size, batch * width)).view(size, batch, width)
        kx = self.mode_weights[layer * self.ndim]
        out = kx @ z.reshape(kx.shape[0], -1)
        if self.ndim == 2:  # (K_x kron K_y) z: K_y along the second mode axis, broadcast over the first
            ky = self.mode_weights[layer * self.ndim + 1]
            out = torch.matmul(ky, out.view(self.sizes[0], self.sizes[1], batch * width))
        return out.view(size, batch, width)

    def held_modes(self, space) -> list[int]:
        """The modes per axis a grid of ``space`` points resolves (the others' coefficients are zero
        there): the DCT's k up to the grid's last node, the DFT's strictly below its Nyquist frequency."""
        periods = [n if self.grid == "periodic" else n - 1 for n in space]
        return [min(m, p + 1 if self.transform == "dct" else (p + 1) // 2) for m, p in zip(self.modes, periods)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        space = x.shape[2:]
        z = self.spectrum(x).flatten(2).permute(2, 0, 1)  # (mode, batch, channel); refuses a grid of 1 point
        if self.training and torch.is_grad_enabled() and not getattr(self, "_warned_untrained", False):
            held = self.held_modes(space)
            if held != list(self.modes):  # (as the FNO's spectral layers warn)
                self._warned_untrained = True
                warnings.warn(f"T1 with modes {list(self.modes)} trains on a grid of {list(space)} points, which "
                              f"resolves {held} of them: the lift and projection weights of the others get no "
                              f"gradient, keep their random initial values and act on finer grids; lower model.modes "
                              f"or train on a finer grid",
                              stacklevel=2)
        z = torch.baddbmm(self.lift_bias, z, self.lift)
        size, batch, width = z.shape
        for i, (w, b) in enumerate(zip(self.channel_weights, self.biases)):
            z = self.act(torch.baddbmm(b, z, w) + self._mix_modes(z, i))
        z = torch.baddbmm(self.project_bias, z, self.project)
        return self.field(z.permute(1, 2, 0).reshape(batch, -1, *self.sizes), space)
