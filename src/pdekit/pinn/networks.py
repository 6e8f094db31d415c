"""Networks for physics-informed training: an MLP with a choice of activation, SIREN with its
initialization, and random Fourier features in front of an MLP. Built by name with ``build_network``.

Each activation also gives its first and second derivatives (``derivatives``), and each network its
layers as (weight, bias, derivatives) triples (``taylor_layers``), for the Taylor pass of
pinn/taylor.py."""

from __future__ import annotations

import math

import torch
from torch import nn

from pdekit.errors import ConfigError


class Tanh(nn.Tanh):
    def derivatives(self, z):
        t = torch.tanh(z)
        d1 = 1 - t * t
        return t, d1, -2 * t * d1


class Sin(nn.Module):
    def forward(self, x):
        return torch.sin(x)

    def derivatives(self, z):
        s = torch.sin(z)
        return s, torch.cos(z), -s


class Snake(nn.Module):
    """x + sin^2(a x) / a ("Neural networks fail to learn periodic functions", a = 1 by default)."""

    def __init__(self, a: float = 1.0):
        super().__init__()
        self.a = a

    def forward(self, x):
        return x + torch.sin(self.a * x) ** 2 / self.a

    def derivatives(self, z):
        s = torch.sin(self.a * z)
        return z + s**2 / self.a, 1 + torch.sin(2 * self.a * z), 2 * self.a * torch.cos(2 * self.a * z)


class Cauchy(nn.Module):
    """The Cauchy activation of XNet: (l1 x + l2) / (x^2 + d^2), with trainable l1, l2, d."""

    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.d = (nn.Parameter(torch.tensor(v)) for v in (1.0, 0.0, 1.0))

    def forward(self, x):
        return (self.l1 * x + self.l2) / (x**2 + self.d**2)

    def derivatives(self, z):
        num, q = self.l1 * z + self.l2, z**2 + self.d**2
        return num / q, self.l1 / q - 2 * z * num / q**2, (8 * z * z * num / q - 4 * self.l1 * z - 2 * num) / q**2


class GELU(nn.GELU):
    """x Phi(x) (the exact form)."""

    def derivatives(self, z):
        cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
        pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return z * cdf, cdf + z * pdf, pdf * (2 - z * z)


class SiLU(nn.SiLU):
    def derivatives(self, z):
        s = torch.sigmoid(z)
        return z * s, s * (1 + z * (1 - s)), s * (1 - s) * (2 + z * (1 - 2 * s))


ACTIVATIONS = {"tanh": Tanh, "sin": Sin, "snake": Snake, "cauchy": Cauchy, "gelu": GELU, "silu": SiLU}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation '{name}'; choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLP(nn.Module):
    """in -> [width] * depth -> out, Xavier-initialized, with the named activation."""

    def __init__(self, in_dim: int, out_dim: int = 1, width: int = 20, depth: int = 4, act: str = "tanh"):
        super().__init__()
        if width < 1 or depth < 1:
            raise ConfigError(f"width and depth must be >= 1, got {width} and {depth}")
        dims = [in_dim] + [width] * depth
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), activation(act)]
        layers.append(nn.Linear(dims[-1], out_dim))
        self.net = nn.Sequential(*layers)
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.net(x)

    def taylor_layers(self):
        mods = list(self.net)
        return [(m.weight, m.bias, mods[i + 1].derivatives if i + 1 < len(mods) else None)
                for i, m in enumerate(mods) if isinstance(m, nn.Linear)]


class SIREN(nn.Module):
    """Sine layers sin(omega0 W x + b) with the SIREN initialization (Sitzmann et al. 2020): first
    layer U(-1/in, 1/in), later ones U(-sqrt(6/fan_in)/omega0, +...)."""

    def __init__(self, in_dim: int, out_dim: int = 1, width: int = 64, depth: int = 3, omega0: float = 30.0):
        super().__init__()
        self.omega0 = omega0
        dims = [in_dim] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(width, out_dim)
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
        def sine(z):  # the factor omega0 is folded into the weights below
            s = torch.sin(z)
            return s, torch.cos(z), -s

        w = self.omega0
        return [(w * m.weight, w * m.bias, sine) for m in self.hidden] + [(self.out.weight, self.out.bias, None)]


class FourierFeatureMLP(nn.Module):
    """[cos(2 pi B x), sin(2 pi B x)] with fixed Gaussian B (std ``scale``) in front of an MLP
    (Tancik et al. 2020), against the spectral bias of plain MLPs."""

    def __init__(self, in_dim: int, out_dim: int = 1, width: int = 64, depth: int = 3, features: int = 64,
                 scale: float = 1.0, act: str = "tanh", seed: int = 0):
        super().__init__()
        b = torch.randn(in_dim, features, generator=torch.Generator().manual_seed(seed)) * scale
        self.register_buffer("b", b)
        self.mlp = MLP(2 * features, out_dim, width, depth, act)

    def forward(self, x):
        z = 2 * math.pi * x @ self.b.to(x.dtype)
        return self.mlp(torch.cat([torch.cos(z), torch.sin(z)], dim=1))

    def taylor_layers(self):
        # [cos z, sin z] = sin([z + pi/2, z]): a fixed linear layer with a sine activation
        b = 2 * math.pi * self.b.T
        shift = torch.zeros(2 * b.shape[0], dtype=b.dtype, device=b.device)
        shift[: b.shape[0]] = math.pi / 2
        return [(torch.cat([b, b]), shift, Sin().derivatives)] + self.mlp.taylor_layers()


NETWORKS = {"mlp": MLP, "siren": SIREN, "fourier": FourierFeatureMLP}


def build_network(config: dict, in_dim: int, out_dim: int = 1) -> nn.Module:
    """``{"name": "mlp", "width": 20, ...}`` -> a network; unknown names or options are refused."""
    import inspect

    options = dict(config)
    name = options.pop("name", "mlp")
    if name not in NETWORKS:
        raise ConfigError(f"unknown network '{name}'; choose one of: {', '.join(NETWORKS)}")
    cls = NETWORKS[name]
    allowed = [p for p in inspect.signature(cls).parameters if p not in ("in_dim", "out_dim")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for network '{name}'; allowed: {', '.join(allowed)}")
    return cls(in_dim, out_dim, **options)
