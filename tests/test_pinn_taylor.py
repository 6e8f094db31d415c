"""The Taylor pass (forward-mode derivatives through the network) against reverse mode: the value,
the residual and the parameter gradients agree to round-off for every network, activation and hard
condition; residuals it cannot serve fall back to reverse mode with a warning; the compiled pass
agrees with the uncompiled one."""

import math
import warnings

import numpy as np
import pytest
import torch

from pdekit.pinn import (MLP, PINN, SIREN, Dirichlet, Disk, FourierFeatureMLP, Initial, Interval, Neumann, Periodic,
                         Polygon, Rectangle, Robin, TimeInterval, derivative, divergence, grad, laplacian, partial,
                         time_derivative)
from pdekit.nn import ACTIVATIONS
from pdekit.problems.cavity import no_slip_cavity, stream_function_residual


def burgers(u, x):
    return partial(u, x, 1) + u * partial(u, x, 0) - 0.01 * partial(u, x, 0, 2)


def _both(pinn, x):
    """(u, residual, parameter gradients of the squared residual) by the Taylor pass and by reverse mode."""
    out = []
    for taylor in (True, False):
        pinn.taylor = taylor
        u, r = pinn.evaluate(x)
        g = torch.autograd.grad(r.pow(2).sum() + u.pow(2).sum(), list(pinn.parameters()), allow_unused=True)
        out.append((u.detach(), r.detach(), [torch.zeros(()) if t is None else t for t in g]))
    pinn.taylor = True
    return out


def _assert_same(pinn, x, tol=1e-10):
    (u1, r1, g1), (u2, r2, g2) = _both(pinn, x)
    assert float((u1 - u2).abs().max()) < tol
    assert float((r1 - r2).abs().max()) < tol * max(1.0, float(r2.abs().max()))
    for a, b in zip(g1, g2):
        assert float((a - b).abs().max()) < tol * max(1.0, float(b.abs().max()))


def _space_time_points(n=64):
    rng = np.random.default_rng(1)
    return torch.as_tensor(np.column_stack([rng.uniform(-1, 1, n), rng.uniform(0, 1, n)]))


NETWORKS = [("mlp", act) for act in ACTIVATIONS] + [("siren", None), ("fourier", None)]


@pytest.mark.parametrize("name,act", NETWORKS)
@pytest.mark.parametrize("hard", [False, True])
def test_taylor_matches_reverse_mode(name, act, hard):
    torch.manual_seed(0)
    net = {"mlp": lambda: MLP(2, 1, 16, 3, act), "siren": lambda: SIREN(2, 1, 16, 2),
           "fourier": lambda: FourierFeatureMLP(2, 1, 16, 2, features=8)}[name]().double()
    pinn = PINN(Interval(-1, 1) * TimeInterval(0, 1), burgers, net,
                [Initial(lambda x: -torch.sin(math.pi * x[:, :1]), hard=hard), Dirichlet(0.0, hard=hard)])
    _assert_same(pinn, _space_time_points())


@pytest.mark.parametrize("domain", [Rectangle((0, 0), (1, 2)), Disk((0, 0), 1.0),
                                    Polygon([(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)])])
def test_taylor_laplacian_with_a_hard_boundary(domain):
    torch.manual_seed(0)
    pinn = PINN(domain, lambda u, x: laplacian(u, x) + 1, MLP(2, 1, 16, 3).double(),
                [Dirichlet(lambda x: x[:, :1] * x[:, 1:2], hard=True)])
    x = torch.as_tensor(domain.sample_interior(64, "uniform", np.random.default_rng(0)))
    _assert_same(pinn, x)


@pytest.mark.parametrize("domain", [Rectangle((0, 0), (1, 2)) - Disk((0.5, 1), 0.2),
                                    Polygon([(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)])])
@pytest.mark.parametrize("condition", [Neumann(lambda x: x[:, :1] * x[:, 1:2], hard=True),
                                       Robin(2.0, 0.5, lambda x: torch.sin(x[:, :1]), hard=True)])
def test_taylor_with_a_hard_neumann_or_robin_condition(domain, condition):
    """The flux transform takes the network's gradient: second derivatives of u (a Laplacian and a
    mixed one, of a two-column output) need third ones of the network, still forward mode, to 1e-10."""
    torch.manual_seed(0)

    def residual(u, x):
        return torch.cat([laplacian(u[:, :1], x) + u[:, 1:], partial(u[:, 1:], x, 0) * derivative(u[:, :1], x, 0, 1)], 1)

    pinn = PINN(domain, residual, MLP(2, 2, 16, 3).double(), [condition])
    x = torch.as_tensor(domain.sample_interior(64, "uniform", np.random.default_rng(0)))
    _assert_same(pinn, x)
    assert pinn.taylor and pinn._taylor_keys == {(0,), (1,), (0, 0), (0, 1), (1, 1)}


def test_taylor_with_a_hard_neumann_condition_in_space_time():
    """u_t - u_xx with du/dn given on the ends of [-1, 1] for all t: the flux transform's gradient is
    spatial only, the time derivative mixes in."""
    torch.manual_seed(0)
    pinn = PINN(Interval(-1, 1) * TimeInterval(0, 1), lambda u, x: time_derivative(u, x) - partial(u, x, 0, 2),
                MLP(2, 1, 16, 3).double(), [Neumann(lambda x: x[:, 1:2] * x[:, :1], hard=True)])
    _assert_same(pinn, _space_time_points())
    assert pinn.taylor and pinn._taylor_keys == {(0,), (0, 0), (1,)}
    edge = torch.tensor([[-1.0, 0.3], [1.0, 0.7]], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(pinn(edge).sum(), edge)
    assert torch.allclose(g[:, 0] * torch.tensor([-1.0, 1.0], dtype=torch.float64),
                          torch.tensor([-0.3, 0.7], dtype=torch.float64), atol=1e-12)


def test_a_third_derivative_with_a_hard_neumann_condition_falls_back_to_reverse_mode():
    """u_xxx would need the network's fourth derivatives: reverse mode, with a warning, same numbers."""
    torch.manual_seed(0)
    pinn = PINN(Interval(0, 1), lambda u, x: partial(u, x, 0, 3) + u, MLP(1, 1, 16, 3).double(), [Neumann(1.0, hard=True)])
    x = torch.linspace(0.05, 0.95, 16, dtype=torch.float64)[:, None]
    with pytest.warns(UserWarning, match="the second with a hard Neumann or Robin condition"):
        _, r = pinn.evaluate(x)
    assert not pinn.taylor
    xr = x.clone().requires_grad_(True)
    u = pinn(xr)
    d = u
    for _ in range(3):
        (d,) = torch.autograd.grad(d.sum(), xr, create_graph=True)
    assert float((r - d - u).detach().abs().max()) < 1e-12


def test_taylor_with_a_hard_periodic_axis_and_second_time_derivative():
    """The wave equation u_tt = u_xx with u periodic in x (an input embedding) and a hard initial value."""
    torch.manual_seed(0)
    pinn = PINN(Interval(-1, 1) * TimeInterval(0, 1),
                lambda u, x: time_derivative(u, x, 2) - partial(u, x, 0, 2), MLP(3, 1, 16, 3).double(),
                [Periodic(0, hard=True), Initial(lambda x: torch.sin(math.pi * x[:, :1]), hard=True)])
    _assert_same(pinn, _space_time_points())
    assert pinn.taylor and pinn._taylor_keys == {(0,), (0, 0), (1,), (1, 1)}


def test_taylor_falls_back_to_reverse_mode_for_derivatives_it_does_not_carry():
    """A mixed derivative taken from a slice of the gradient: reverse mode, with a warning, same numbers."""
    torch.manual_seed(0)

    def mixed(u, x):
        return grad(grad(u, x)[:, :1], x)[:, 1:] + u

    pinn = PINN(Interval(-1, 1) * TimeInterval(0, 1), mixed, MLP(2, 1, 16, 3).double(), [])
    x = _space_time_points()
    with pytest.warns(UserWarning, match="using reverse mode"):
        u, r = pinn.evaluate(x)
    assert not pinn.taylor
    xr = x.clone().requires_grad_(True)
    ur = pinn(xr)
    expected = torch.autograd.grad(torch.autograd.grad(ur.sum(), xr, create_graph=True)[0][:, 0].sum(), xr)[0][:, 1:]
    assert float((r - expected - ur.detach()).abs().max()) < 1e-12


def test_compiled_taylor_pass_agrees_with_the_uncompiled_one(monkeypatch):
    from pdekit.pinn import taylor

    monkeypatch.setattr(taylor, "_checked", set())
    torch.manual_seed(0)
    pinn = PINN(Interval(-1, 1) * TimeInterval(0, 1), burgers, MLP(2, 1, 16, 3),
                [Initial(lambda x: -torch.sin(math.pi * x[:, :1]), hard=True), Dirichlet(0.0, hard=True)])
    x = _space_time_points(256).float()
    u1, r1 = pinn.evaluate(x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        u2, r2 = pinn.evaluate(x, compiled=True)
    if any("torch.compile failed" in str(w.message) for w in caught):
        pytest.skip("no working torch.compile here (the fallback has its own test)")
    g1 = torch.autograd.grad(r1.pow(2).mean(), list(pinn.parameters()))
    g2 = torch.autograd.grad(r2.pow(2).mean(), list(pinn.parameters()))
    assert float((u1 - u2).abs().max()) < 1e-5 and float((r1 - r2).abs().max()) < 1e-4
    assert all(torch.allclose(a, b, rtol=1e-3, atol=1e-6) for a, b in zip(g1, g2))
    # compiled, and its first result was checked against the uncompiled pass and kept
    assert not any("differs from the uncompiled" in str(w.message) for w in caught)
    assert len(taylor._checked) == 1 and taylor._compiled["fn"] is not taylor.propagate


def test_a_failed_compile_warns_and_runs_uncompiled(monkeypatch):
    from pdekit.pinn import taylor

    def no_compiler(*args):
        raise torch._dynamo.exc.TorchDynamoException("no C++ compiler found")

    monkeypatch.setitem(taylor._compiled, "fn", no_compiler)
    torch.manual_seed(0)
    pinn = PINN(Interval(-1, 1) * TimeInterval(0, 1), burgers, MLP(2, 1, 16, 3), [])
    x = _space_time_points(32).float()
    _, expected = pinn.evaluate(x)
    with pytest.warns(UserWarning, match="torch.compile failed .*no C\\+\\+ compiler found.*runs uncompiled"):
        _, r = pinn.evaluate(x, compiled=True)
    assert torch.equal(r, expected) and taylor._compiled["fn"] is taylor.propagate


def test_a_miscompiled_taylor_pass_is_caught_and_replaced_by_the_uncompiled_one(monkeypatch):
    """A compiled pass whose derivatives are off by 1% (a miscompiled kernel, as a kernel cache built
    for another instruction set gave) is compared with the uncompiled pass on its first call, warned
    about, and not used again; a faithful one is compared once per kind of call, then trusted."""
    from pdekit.pinn import taylor

    def off(*args):
        h, derivatives = taylor.propagate(*args)
        return h, [d * 1.01 for d in derivatives]

    calls = []

    def faithful(*args):
        calls.append(len(args[1]))
        return taylor.propagate(*args)

    torch.manual_seed(0)
    pinn = PINN(Interval(-1, 1) * TimeInterval(0, 1), burgers, MLP(2, 1, 16, 3), [])
    x = _space_time_points(32).float()
    _, expected = pinn.evaluate(x)
    monkeypatch.setattr(taylor, "_checked", set())
    monkeypatch.setitem(taylor._compiled, "fn", off)
    with pytest.warns(UserWarning, match="Taylor pass differs from the uncompiled one by 0.01 .*runs uncompiled"):
        _, r = pinn.evaluate(x, compiled=True)
    assert torch.equal(r, expected) and taylor._compiled["fn"] is taylor.propagate
    monkeypatch.setitem(taylor._compiled, "fn", faithful)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            _, r = pinn.evaluate(x, compiled=True)
    assert torch.equal(r, expected) and taylor._compiled["fn"] is faithful and calls == [32] * 3
    assert len(taylor._checked) == 1


def test_the_compiled_pass_check_compares_nan_and_zero_outputs_sensibly():
    from pdekit.pinn.taylor import _disagreement

    u = torch.tensor([1.0, 2.0, math.nan])
    zero = torch.zeros(3)
    assert _disagreement((u, [zero]), (u.clone(), [zero])) == 0.0  # NaN where the uncompiled pass has NaN
    assert _disagreement((torch.tensor([1.0, math.nan, math.nan]), [zero]), (u, [zero])) == math.inf
    # an output that is zero uncompiled and carries rounding compiled is measured against the others' scale
    assert _disagreement((u, [zero + 1e-7]), (u, [zero])) == pytest.approx(1e-7 / 2e-3)
    assert _disagreement((u * 1.01, [zero]), (u, [zero])) == pytest.approx(0.01, rel=1e-5)


_stream_function_navier_stokes = stream_function_residual(100.0)  # mixed and third derivatives of psi


@pytest.mark.parametrize("name,act", NETWORKS)
@pytest.mark.parametrize("hard", [False, True])
def test_mixed_and_third_derivatives_of_a_vector_output_match_reverse_mode(name, act, hard):
    """The issue's bar: forward-mode mixed and third derivatives against reverse mode to 1e-10,
    here through a two-column output, for every network and activation, with a hard boundary."""
    torch.manual_seed(0)
    net = {"mlp": lambda: MLP(2, 2, 16, 3, act), "siren": lambda: SIREN(2, 2, 16, 2),
           "fourier": lambda: FourierFeatureMLP(2, 2, 16, 2, features=8)}[name]().double()
    pinn = PINN(Rectangle((0, 0), (1, 1)), _stream_function_navier_stokes, net,
                [Dirichlet(lambda x: x[:, :1] * x[:, 1:2] ** 2, hard=hard)])
    x = torch.as_tensor(Rectangle((0, 0), (1, 1)).sample_interior(64, "uniform", np.random.default_rng(0)))
    _assert_same(pinn, x)
    assert pinn.taylor and {(0, 0, 1), (1, 1, 1), (0, 0, 0), (0, 1, 1)} <= pinn._taylor_keys


def test_divergence_and_column_views_read_the_taylor_pass():
    """divergence of a vector output and a derivative of a split column come from the carried
    derivatives (no fallback), equal to reverse mode."""
    torch.manual_seed(0)

    def residual(out, x):
        a, b = out.split(1, dim=1)
        return divergence(out, x) + derivative(b, x, 1, 0) * a

    pinn = PINN(Rectangle((0, 0), (1, 1)), residual, MLP(2, 2, 16, 3).double(), [])
    x = torch.as_tensor(Rectangle((0, 0), (1, 1)).sample_interior(32, "uniform", np.random.default_rng(0)))
    _assert_same(pinn, x)
    assert pinn.taylor and pinn._taylor_keys == {(0,), (1,), (0, 1)}


def test_a_transform_imposes_no_slip_walls_and_keeps_the_taylor_pass_exact():
    """On the walls psi = 0, u = psi_y is the lid's 16 x^2 (1 - x)^2 on y = 1 and 0 elsewhere,
    v = -psi_x = 0, whatever the network; the Taylor pass through the transform (third derivatives
    included) equals reverse mode; a Transform with a hard Dirichlet condition is refused."""
    torch.manual_seed(0)
    pinn = PINN(Rectangle((0, 0), (1, 1)), _stream_function_navier_stokes, MLP(2, 2, 16, 3).double(),
                [no_slip_cavity()])
    s = torch.linspace(0, 1, 11, dtype=torch.float64)
    walls = torch.cat([torch.stack([s, torch.zeros_like(s)], 1), torch.stack([s, torch.ones_like(s)], 1),
                       torch.stack([torch.zeros_like(s), s], 1), torch.stack([torch.ones_like(s), s], 1)])
    walls.requires_grad_(True)
    psi = pinn(walls)[:, 0]
    g = torch.autograd.grad(psi.sum(), walls)[0]
    lid = torch.cat([torch.zeros(11), 16 * s**2 * (1 - s) ** 2, torch.zeros(22)]).double()
    assert float(psi.abs().max()) < 1e-15
    assert float((g[:, 1] - lid).abs().max()) < 1e-14 and float(g[:, 0].abs().max()) < 1e-14
    x = torch.as_tensor(Rectangle((0, 0), (1, 1)).sample_interior(64, "uniform", np.random.default_rng(0)))
    _assert_same(pinn, x)
    assert pinn.taylor
    from pdekit.errors import ConfigError
    with pytest.raises(ConfigError, match="Transform replaces"):
        PINN(Rectangle((0, 0), (1, 1)), _stream_function_navier_stokes, MLP(2, 2, 16, 3).double(),
             [no_slip_cavity(), Dirichlet(0.0, hard=True)])


def test_cavity_benchmark_scores_the_velocity_against_the_solver_with_the_same_lid():
    """The cavity PINN's reference is the cavity_2d solver with the regularized lid (65 x 65 nodes,
    u and v); the score reads the velocity (psi_y, -psi_x): on the walls the hard transform and
    the solver's wall data agree exactly, so every error is inside; an untrained network is far
    off (relative L2 near 1)."""
    from pdekit.problems import get_problem

    torch.manual_seed(0)
    bench = get_problem("cavity", kind="pinn").from_params({"reference_cells": 16}).build(
        {"name": "mlp", "width": 8, "depth": 2})
    bench.pinn.double()
    assert bench.reference.shape == (17, 17, 2) and bench.pinn.taylor
    metrics, u = bench.evaluate()
    wall = np.zeros((17, 17), dtype=bool)
    wall[[0, -1], :] = wall[:, [0, -1]] = True
    assert np.abs(u - bench.reference)[wall].max() < 1e-12
    assert u.shape == bench.reference.shape and 0.5 < metrics["test_rel_l2"] < 2
    lid = bench.reference[:, -1, 0]
    np.testing.assert_allclose(lid, 16 * bench.grid["x"] ** 2 * (1 - bench.grid["x"]) ** 2, atol=1e-15)
