"""Pointwise networks for physics-informed training, (n, in_channels) coordinates to
(n, out_channels) values: an MLP with a choice of activation, SIREN with its initialization, and
random Fourier features in front of an MLP. Each gives its layers as (weight, bias, derivatives)
triples (``taylor_layers``) for the Taylor pass of pinn/taylor.py."""

from __future__ import annotations

import math

import torch
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models.registry import register_model
from pdekit.nn.layers import Sin, mlp


@register_model("mlp")
class MLP(nn.Module):
    """in -> [width] * depth -> out, Xavier-initialized, with the named activation.

    Parameters
    ----------
    in_channels, out_channels : features of the points (n, in_channels) and of the values.
    width : features of each hidden layer.
    depth : number of hidden layers.
    act : activation, one of pdekit.nn.ACTIVATIONS ("tanh", "sin", "snake", "cauchy", "gelu", ...).
    """

    summary = "pointwise MLP (PINNs): coordinates to values, Xavier initialization"
    pointwise = True

    def __init__(self, in_channels: int, out_channels: int = 1, width: int = 20, depth: int = 4, act: str = "tanh"):
        super().__init__()
        if width < 1 or depth < 1:
            raise ConfigError(f"width and depth must be >= 1, got {width} and {depth}")
        self.net = mlp([in_channels] + [width] * depth + [out_channels], act)
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.net(x)

    def taylor_layers(self):
        """The layers for the Taylor pass (pinn/taylor.py): each Linear layer with the activation that
        follows it.

        Returns
        -------
        list of tuple
            ``(weight (out, in), bias (out,), derivatives)`` per layer, where ``derivatives(z, order)`` gives
            the activation after the layer and its derivatives up to ``order``, None for the output
            layer.
        """
        mods = list(self.net)
        return [(m.weight, m.bias, mods[i + 1].derivatives if i + 1 < len(mods) else None)
                for i, m in enumerate(mods) if isinstance(m, nn.Linear)]


@register_model("siren")
class SIREN(nn.Module):
    """Sine layers sin(omega0 W x + b) with the SIREN initialization (Sitzmann et al. 2020): first
    layer U(-1/in, 1/in), later ones U(-sqrt(6/fan_in)/omega0, +...).

    Parameters
    ----------
    in_channels, out_channels : features of the points and of the values.
    width : features of each sine layer.
    depth : number of sine layers.
    omega0 : the sine layers' frequency factor.
    """

    summary = "SIREN (PINNs): sine layers with their initialization (Sitzmann et al. 2020)"
    pointwise = True

    def __init__(self, in_channels: int, out_channels: int = 1, width: int = 64, depth: int = 3, omega0: float = 30.0):
        super().__init__()
        self.omega0 = omega0
        dims = [in_channels] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(width, out_channels)
        with torch.no_grad():
            for i, layer in enumerate(self.hidden):
                bound = 1 / layer.in_features if i == 0 else math.sqrt(6 / layer.in_features) / omega0
                layer.weight.uniform_(-bound, bound)
            bound = math.sqrt(6 / width) / omega0
            self.out.weight.uniform_(-bound, bound)

    def forward(self, x):
        for layer in self.hidden:
            x = torch.sin(self.omega0 * layer(x))
        return self.out(x)

    def taylor_layers(self):
        """The layers for the Taylor pass (pinn/taylor.py): the sine layers with omega0 folded into their
        weights and biases (so the activation is sin itself), then the linear output layer.

        Returns
        -------
        list of tuple
            ``(weight (out, in), bias (out,), derivatives)`` per layer, where ``derivatives(z, order)`` gives
            the activation after the layer and its derivatives up to ``order``, None for the output
            layer.
        """
        w = self.omega0  # folded into the weights, so the activation is sin itself
        return [(w * m.weight, w * m.bias, Sin().derivatives) for m in self.hidden] + [(self.out.weight, self.out.bias, None)]


@register_model("fourier")
class FourierFeatureMLP(nn.Module):
    """[cos(2 pi B x), sin(2 pi B x)] with fixed Gaussian B (std ``scale``) in front of an MLP
    (Tancik et al. 2020), against the spectral bias of plain MLPs.

    Parameters
    ----------
    in_channels, out_channels : features of the points and of the values.
    width : features of each hidden layer of the MLP behind the features.
    depth : number of hidden layers of that MLP.
    act : its activation, as the MLP's.
    features : Fourier features (each gives a cosine and a sine).
    scale : standard deviation of the random frequencies B.
    seed : seed of B.
    """

    summary = "random Fourier features + MLP (PINNs; Tancik et al. 2020)"
    pointwise = True

    def __init__(self, in_channels: int, out_channels: int = 1, width: int = 64, depth: int = 3, features: int = 64,
                 scale: float = 1.0, act: str = "tanh", seed: int = 0):
        super().__init__()
        b = torch.randn(in_channels, features, generator=torch.Generator().manual_seed(seed)) * scale
        self.register_buffer("b", b)
        self.mlp = MLP(2 * features, out_channels, width, depth, act)

    def forward(self, x):
        z = 2 * math.pi * x @ self.b.to(x.dtype)
        return self.mlp(torch.cat([torch.cos(z), torch.sin(z)], dim=1))

    def taylor_layers(self):
        """The layers for the Taylor pass (pinn/taylor.py): the Fourier features as a fixed first layer,
        [cos z, sin z] = sin([z + pi/2, z]) with z = 2 pi x B, then the MLP's layers.

        Returns
        -------
        list of tuple
            ``(weight (out, in), bias (out,), derivatives)`` per layer, where ``derivatives(z, order)`` gives
            the activation after the layer and its derivatives up to ``order``, None for the output
            layer.
        """
        # [cos z, sin z] = sin([z + pi/2, z]): a fixed linear layer with a sine activation
        b = 2 * math.pi * self.b.T
        shift = torch.zeros(2 * b.shape[0], dtype=b.dtype, device=b.device)
        shift[: b.shape[0]] = math.pi / 2
        return [(torch.cat([b, b]), shift, Sin().derivatives)] + self.mlp.taylor_layers()
