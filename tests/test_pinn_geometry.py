"""PINN building blocks: geometries and samplers, derivative helpers, networks, the reference solution."""

import math

import numpy as np
import pytest
import torch

from pdekit.errors import ConfigError
from pdekit.pinn import (MLP, SIREN, Box, Disk, FourierFeatureMLP, Interval, Polygon, TimeInterval, build_network,
                         burgers_cole_hopf, divergence, grad, laplacian, partial)
from pdekit.pinn.geometry import unit_points

L_SHAPE = Polygon([(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)])


@pytest.mark.parametrize("geometry, area", [
    (Interval(-1, 2), 3.0),
    (Box([0, 0], [2, 1]), 2.0),
    (Box([0, 0, 0], [1, 2, 3]), 6.0),
    (Disk([0, 0], 1), math.pi),
    (L_SHAPE, 3.0),
    (Box([-1, -1], [1, 1]) - Disk([0, 0], 0.5), 4 - math.pi / 4),
    (Disk([0, 0], 1) | Box([0, -0.5], [2, 0.5]), math.pi + 2 - math.sqrt(0.75) / 2 - math.pi / 6),  # minus the overlap
])
def test_geometry_measure_membership_and_boundary(geometry, area):
    assert geometry.measure() == pytest.approx(area, rel=0.01)
    rng = np.random.default_rng(0)
    inside = geometry.sample_interior(500, "sobol", rng)
    assert inside.shape == (500, geometry.dim) and geometry.contains(inside).all()
    assert not geometry.on_boundary(inside).any()
    edge = geometry.sample_boundary(300, rng)
    assert geometry.on_boundary(edge).all()
    normals = geometry.normal(edge)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0)
    # a small step along the outward normal leaves the domain
    assert not geometry.contains(edge + 1e-4 * normals).any()
    if geometry.dim <= 2:
        factor = geometry.factor(torch.as_tensor(np.concatenate([inside, edge])))[:, 0].numpy()
        assert (factor[:500] > 0).all() and np.abs(factor[500:]).max() < 1e-9
    # the normalized distance of hard Neumann and Robin conditions: zero on the boundary, positive
    # inside, negative just outside, and its gradient there the inward unit normal
    x = torch.as_tensor(np.concatenate([inside, edge, edge + 1e-4 * normals])).requires_grad_(True)
    phi = geometry.distance_field(x)
    (gradient,) = torch.autograd.grad(phi.sum(), x)
    phi = phi[:, 0].detach().numpy()
    assert (phi[:500] > 0).all() and np.abs(phi[500:800]).max() < 1e-12 and (phi[800:] < 0).all()
    assert np.abs(gradient[500:800].numpy() + normals).max() < 1e-9


def test_boundary_points_of_composites_are_uniform_along_the_boundary():
    """Each part drew as many candidates, so short boundaries were oversampled (the hole held 50% of
    a box-minus-disk's points for 28% of its length): now each point is as likely anywhere."""
    for geometry, circle, share in ((Box([0, 0], [2, 2]) - Disk([1, 1], 0.5), Disk([1, 1], 0.5), math.pi / (8 + math.pi)),
                                    (Box([0, 0], [2, 2]) | Disk([2, 1], 0.5), Disk([2, 1], 0.5),
                                     math.pi / 2 / (7 + math.pi / 2))):
        x = geometry.sample_boundary(20000, np.random.default_rng(0))
        assert geometry.on_boundary(x).all()
        assert np.mean(np.abs(circle.distance(x)) < 1e-7) == pytest.approx(share, abs=0.01), geometry


@pytest.mark.parametrize("geometry, seam", [
    # where the two parts' factors are equal inside the domain: the max or min of them had a kink there
    (Box([0, 0], [2, 2]) - Disk([1, 1], 0.5), (0.0, 0.5)),
    (Box([0, 0], [2, 2]) | Disk([2, 1], 0.5), (1.0, 2.0)),
])
def test_a_composite_factor_is_smooth_inside(geometry, seam):
    """The hard-condition factor of a union or difference has a continuous gradient along the
    line y = 1 through the domain (measured: largest change of d/dx between points 1e-5 apart
    below 1e-3, where the min and max factors jumped by 6.3 and 4.0)."""
    x = torch.linspace(*seam, 50001, dtype=torch.float64)[1:-1]
    points = torch.stack([x, torch.ones_like(x)], dim=1).requires_grad_(True)
    inside = torch.as_tensor(geometry.contains(points.detach().numpy()))
    (slope,) = torch.autograd.grad(geometry.factor(points).sum(), points)
    steps = slope[:, 0].diff().abs()[inside[1:] & inside[:-1]]
    assert float(steps.max()) < 1e-3, float(steps.max())


@pytest.mark.parametrize("sampler", ["uniform", "lhs", "sobol"])
def test_samplers_fill_the_unit_square_evenly(sampler):
    x = unit_points(1024, 2, sampler, np.random.default_rng(1))
    assert x.shape == (1024, 2) and (x >= 0).all() and (x < 1).all()
    counts = np.histogram2d(x[:, 0], x[:, 1], bins=4, range=[[0, 1], [0, 1]])[0]
    spread = counts.std() / counts.mean()
    assert spread < {"uniform": 0.3, "lhs": 0.12, "sobol": 0.01}[sampler], (sampler, counts)  # Sobol: balanced cells
    if sampler == "lhs":  # one point per row stratum
        assert (np.bincount((x[:, 0] * 1024).astype(int), minlength=1024) == 1).all()


def test_lhs_collocation_of_a_box_domain_is_a_latin_hypercube():
    """Rejection sampling keeps the Latin hypercube whole where the domain fills its box: one point
    in each of the n strata of every axis (space and time)."""
    rng = np.random.default_rng(0)
    for domain, lo, hi in ((Interval(0, 1), [0], [1]), (Box([0, -1], [2, 1]), [0, -1], [2, 1]),
                           (Interval(-1, 1) * TimeInterval(0, 1), [-1, 0], [1, 1])):
        x = domain.sample_interior(100, "lhs", rng)
        strata = ((x - lo) / (np.array(hi) - lo) * 100).astype(int)
        assert all((np.bincount(s, minlength=100) == 1).all() for s in strata.T), domain


def test_bad_geometries_and_samplers_are_refused():
    with pytest.raises(ConfigError, match="zero length"):
        Interval(1, 1)
    with pytest.raises(ConfigError, match="zero area"):
        Polygon([(0, 0), (1, 1), (2, 2)])
    with pytest.raises(ConfigError, match="zero area"):
        Box([0, 0], [1, 1]) - Box([-1, -1], [2, 2])
    with pytest.raises(ConfigError, match="finite t0 < t1"):
        TimeInterval(1, 0)
    # unbounded domains: points were drawn at t = inf, or the failure came later ("is its area tiny?")
    with pytest.raises(ConfigError, match=r"finite t0 < t1, got \[0, inf\]"):
        TimeInterval(0, math.inf)
    for unbounded in (lambda: Interval(0, math.inf), lambda: Disk([0, 0], math.inf), lambda: Box([0, math.nan], [1, 1])):
        with pytest.raises(ConfigError, match="is unbounded: a domain needs finite coordinates"):
            unbounded()
    with pytest.raises(ConfigError, match="unknown sampler 'grid'"):
        Interval(0, 1).sample_interior(10, "grid")


def test_space_time_sampling():
    domain = Disk([0, 0], 1) * TimeInterval(0, 2)
    rng = np.random.default_rng(0)
    x = domain.sample_interior(200, "lhs", rng)
    assert x.shape == (200, 3) and domain.contains(x).all() and x[:, 2].max() <= 2
    b = domain.sample_boundary(100, rng)
    assert np.allclose(np.linalg.norm(b[:, :2], axis=1), 1)
    i = domain.sample_initial(50, "sobol", rng)
    assert (i[:, 2] == 0).all()


def test_derivative_helpers_match_closed_forms():
    x = torch.rand(64, 3, dtype=torch.float64, requires_grad=True)
    u = torch.sin(x[:, :1]) * x[:, 1:2] ** 2 + torch.exp(x[:, 2:3])
    assert torch.allclose(grad(u, x)[:, 1:2], 2 * torch.sin(x[:, :1]) * x[:, 1:2])
    assert torch.allclose(partial(u, x, 0, order=2), -torch.sin(x[:, :1]) * x[:, 1:2] ** 2)
    assert torch.allclose(laplacian(u, x, space_dims=2), -torch.sin(x[:, :1]) * x[:, 1:2] ** 2 + 2 * torch.sin(x[:, :1]))
    v = torch.cat([x[:, :1] ** 2, x[:, :1] * x[:, 1:2]], dim=1)
    assert torch.allclose(divergence(v, x), 3 * x[:, :1])


@pytest.mark.parametrize("config", [{"name": "mlp", "act": "tanh"}, {"name": "mlp", "act": "sin"},
                                    {"name": "mlp", "act": "snake"}, {"name": "mlp", "act": "cauchy"},
                                    {"name": "siren"}, {"name": "fourier", "features": 16}])
def test_networks_fit_a_smooth_function(config):
    torch.manual_seed(0)
    net = build_network(config, 2, 1)
    x = torch.rand(256, 2) * 2 - 1
    y = torch.sin(2 * x[:, :1]) * torch.cos(x[:, 1:])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3 if config["name"] != "siren" else 1e-4)
    first = None
    for _ in range(300):
        loss = (net(x) - y).pow(2).mean()
        first = first or float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = float(loss.detach())
    assert last < 0.05 * first and last < 5e-3, (config, first, last)


def test_network_config_errors():
    with pytest.raises(ConfigError, match="unknown activation 'relu6'"):
        build_network({"name": "mlp", "act": "relu6"}, 2)
    with pytest.raises(ConfigError, match="unknown key model.widht for model 'mlp' \\(did you mean 'width'\\?\\); allowed: width, depth, act"):
        build_network({"name": "mlp", "widht": 3}, 2)
    with pytest.raises(ConfigError, match="unknown model 'kan'"):
        build_network({"name": "kan"}, 2)
    with pytest.raises(ConfigError, match="model 'fno' works on grids; a PINN needs a pointwise network: fourier, mlp"):
        build_network({"name": "fno"}, 2)
    assert isinstance(build_network({"name": "siren"}, 2), SIREN)
    assert isinstance(build_network({"name": "fourier"}, 2), FourierFeatureMLP)
    assert isinstance(build_network({}, 2), MLP)


def test_siren_initialization_keeps_activations_spread():
    torch.manual_seed(0)
    net = SIREN(2, 1, width=256, depth=4)
    x = torch.rand(4096, 2) * 2 - 1
    h = x
    for layer in net.hidden:
        h = torch.sin(net.omega0 * layer(h))
    # the SIREN paper's property: sin(omega0 W h) stays arcsine-distributed, std about 1/sqrt(2)
    assert 0.6 < float(h.detach().std()) < 0.8


def test_burgers_reference_to_1e_6():
    """Cole-Hopf by the trapezoidal rule against adaptive quadrature of the same integrals, the PDE
    residual by finite differences, and the initial and boundary values."""
    from scipy import integrate

    nu = 0.01 / math.pi
    x = np.array([-0.9, -0.3, -0.01, 0.0, 0.02, 0.5])
    for t in (0.1, 0.5, 1.0):
        s = math.sqrt(4 * nu * t)
        ours = burgers_cole_hopf(x, np.array([t]))[0]
        for xi, ui in zip(x, ours):
            phi = lambda e: -math.cos(math.pi * (xi - e)) / (2 * math.pi * nu) - e * e / (4 * nu * t)  # noqa: E731
            m = max(phi(e) for e in np.linspace(-8 * s, 8 * s, 4001))
            kw = dict(epsabs=1e-14, epsrel=1e-12, limit=400)
            num = integrate.quad(lambda e: math.sin(math.pi * (xi - e)) * math.exp(phi(e) - m), -10 * s, 10 * s, **kw)[0]
            den = integrate.quad(lambda e: math.exp(phi(e) - m), -10 * s, 10 * s, **kw)[0]
            assert abs(ui + num / den) < 1e-6, (xi, t)
    # small viscosities, where the integrand's peaks lie far out in the kernel's variable
    for nu_small, t in ((2e-4, 1.0), (1e-4, 0.3), (1e-5, 1.0)):
        ours = burgers_cole_hopf(x, np.array([t]), nu_small)[0]
        for xi, ui in zip(x, ours):
            log_w = lambda y: -math.cos(math.pi * y) / (2 * math.pi * nu_small) - (xi - y) ** 2 / (4 * nu_small * t)  # noqa: E731
            ys = np.linspace(xi - 2, xi + 2, 400001)
            peak = ys[np.argmax([log_w(y) for y in ys])]
            m = log_w(peak)
            kw = dict(epsabs=1e-14, epsrel=1e-12, limit=1000, points=[peak])
            num = integrate.quad(lambda y: math.sin(math.pi * y) * math.exp(log_w(y) - m), xi - 2, xi + 2, **kw)[0]
            den = integrate.quad(lambda y: math.exp(log_w(y) - m), xi - 2, xi + 2, **kw)[0]
            assert abs(ui + num / den) < 1e-6, (nu_small, xi, t, ui, -num / den)
    u = burgers_cole_hopf(np.array([-1.0, 1.0]), np.linspace(0, 1, 11))
    assert np.abs(u).max() < 1e-12
    xs = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(burgers_cole_hopf(xs, np.array([0.0]))[0], -np.sin(math.pi * xs))
    # residual with central differences where the solution is smooth (away from the shock at 0)
    h, k, t = 1e-4, 1e-5, 0.4
    xs = np.array([-0.6, -0.4, 0.4, 0.7])
    u = lambda x, t: burgers_cole_hopf(x, np.array([t]))[0]  # noqa: E731
    u_t = (u(xs, t + k) - u(xs, t - k)) / (2 * k)
    u_x = (u(xs + h, t) - u(xs - h, t)) / (2 * h)
    u_xx = (u(xs + h, t) - 2 * u(xs, t) + u(xs - h, t)) / h**2
    assert np.abs(u_t + u(xs, t) * u_x - nu * u_xx).max() < 1e-4
