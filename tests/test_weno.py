"""The combined equation's classical schemes (numerics/weno.py): WENO5's order on a smooth forced
solution, FD2's, their behaviour at a shock, per-sample coefficients."""

import math

import pytest
import torch

from pdekit.errors import ConfigError
from pdekit.numerics import weno

L = 16.0  # MP-PDE's domain [0, 16)
K, A, C, OMEGA = 2 * math.pi * 2 / L, 0.5, 0.5, 0.7


def _manufactured_error(alpha, beta, gamma, scheme, n, t_final=1.0):
    """Max error at t_final for u = C + A sin(K x - OMEGA t), the forcing made to fit."""
    dx = L / n
    x = torch.arange(n, dtype=torch.float64) * dx

    def exact(t):
        return C + A * torch.sin(K * x - OMEGA * t)

    def forcing(t):
        th = K * x - OMEGA * t
        return (-A * OMEGA * torch.cos(th) + alpha * (C + A * torch.sin(th)) * A * K * torch.cos(th)
                + beta * A * K**2 * torch.sin(th) - gamma * A * K**3 * torch.cos(th))[None]

    dt = min(weno.stable_dt(dx, alpha, beta, gamma, 1.0, scheme), 0.2 * dx)  # time error far below space's
    u = weno.ssp_rk3(exact(0.0)[None], 0.0, t_final, dt, alpha=alpha, beta=beta, gamma=gamma, dx=dx, scheme=scheme,
                     forcing=forcing)
    return float((u[0] - exact(t_final)).abs().max())


def _orders(coefs, scheme, grids=(50, 100, 200)):
    errors = [_manufactured_error(*coefs, scheme, n) for n in grids]
    return [math.log2(errors[i] / errors[i + 1]) for i in range(len(errors) - 1)]


@pytest.mark.parametrize("coefs", [(1.0, 0.0, 0.0), (3.0, 0.3, 0.5)])
def test_weno5_converges_at_fifth_order_on_a_smooth_solution(coefs):
    """Measured 5.12, 5.50 (Burgers, E1's equation) and 4.93, 4.96 (E3-like, with the fourth-order
    u_xx and u_xxx) between 50, 100 and 200 points."""
    assert min(_orders(coefs, "weno5")) > 4.6


def test_fd2_converges_at_second_order():
    """Measured 1.96, 2.00 with all three terms."""
    orders = _orders((3.0, 0.3, 0.5), "fd2")
    assert all(1.9 < p < 2.1 for p in orders), orders


def test_weno5_does_not_oscillate_at_a_shock_and_fd2_does():
    """Inviscid Burgers from 0.2 + sin(2 pi x / 16) past the shock (t = 4, breaking at 2.5), 100
    points: WENO5's total variation does not grow (4.00 -> 3.97) and no new extrema appear; FD2's
    triples (12.4) with overshoots; both keep the mass to round-off."""
    n = 100
    dx = L / n
    x = torch.arange(n, dtype=torch.float64) * dx
    u0 = (0.2 + torch.sin(2 * math.pi * x / L))[None]

    def tv(u):
        return float((u - torch.roll(u, 1, -1)).abs().sum())

    out = {}
    for scheme in weno.SCHEMES:
        u = weno.ssp_rk3(u0, 0.0, 4.0, weno.stable_dt(dx, 1.0, 0, 0, 1.5, scheme), alpha=1.0, beta=0.0, gamma=0.0,
                         dx=dx, scheme=scheme)
        assert abs(float(u.sum() - u0.sum())) * dx < 1e-12
        out[scheme] = u
    u = out["weno5"]
    assert tv(u) <= tv(u0) * (1 + 1e-6)
    assert float(u.max()) <= float(u0.max()) + 1e-6 and float(u.min()) >= float(u0.min()) - 1e-6
    assert tv(out["fd2"]) > 2 * tv(u0) and float(out["fd2"].max()) > float(u0.max()) + 0.2


def test_each_sample_takes_its_own_coefficients():
    """A batch with per-sample (alpha, beta, gamma) equals each sample solved alone, bitwise."""
    n, dx = 40, L / 40
    x = torch.arange(n, dtype=torch.float64) * dx
    u0 = torch.stack([torch.sin(2 * math.pi * x / L), 0.5 * torch.cos(4 * math.pi * x / L)])
    coefs = {"alpha": torch.tensor([[1.0], [4.0]], dtype=torch.float64),
             "beta": torch.tensor([[0.1], [0.3]], dtype=torch.float64),
             "gamma": torch.tensor([[0.0], [0.7]], dtype=torch.float64)}
    dt = weno.stable_dt(dx, 6.0, 0.4, 1.0, 2.0)
    batch = weno.ssp_rk3(u0, 0.0, 0.5, dt, dx=dx, **coefs)
    for i in range(2):
        alone = weno.ssp_rk3(u0[i : i + 1], 0.0, 0.5, dt, dx=dx, **{k: v[i : i + 1] for k, v in coefs.items()})
        assert torch.equal(batch[i : i + 1], alone)
    assert not torch.equal(batch[0], batch[1])
    with pytest.raises(ConfigError, match="unknown scheme"):
        weno.rhs(u0, 0.0, 1.0, 0.0, 0.0, dx, scheme="weno3")
