"""Every solver's measured order of convergence (the numbers in docs/solvers.md)."""

import numpy as np
import pytest
import torch

from pdekit import verification as v
from pdekit.problems import get_problem


def _spectral(errors, floor, min_factor):
    """Errors fall by at least ``min_factor`` per refinement until they reach ``floor``."""
    for coarse, fine in zip(errors[:-1], errors[1:]):
        if coarse > floor:
            assert fine < coarse / min_factor, errors
    assert errors[-1] < floor, errors


@pytest.mark.parametrize("ndim", [1, 2])
def test_heat_is_spectral_in_space_and_exact_in_time(ndim):
    r = v.heat_space(ndim)
    _spectral(r["errors"], floor=1e-13, min_factor=500)


def test_burgers_spectral_in_space_against_cole_hopf():
    r = v.burgers_space()
    _spectral(r["errors"], floor=1e-10, min_factor=40)


def test_burgers_fourth_order_in_time_against_cole_hopf():
    r = v.burgers_time()
    assert 3.7 < r["order"] < 4.3, r
    assert r["errors"][-1] < 1e-9


def test_navier_stokes_taylor_green_is_exact():
    assert v.navier_stokes_taylor_green() < 1e-12


def test_navier_stokes_fourth_order_in_time():
    r = v.navier_stokes_time()
    assert 3.8 < r["order"] < 4.2, r


def test_navier_stokes_spectral_in_space():
    r = v.navier_stokes_space()
    _spectral(r["errors"], floor=1e-6, min_factor=5)


def test_darcy_second_order_smooth_coefficient():
    r = v.darcy_smooth(sizes=(17, 33, 65, 129))
    assert 1.9 < r["order"] < 2.1, r


def test_darcy_tensor_second_order_full_tensor():
    r = v.darcy_tensor_smooth(sizes=(17, 33, 65, 129))
    assert 1.95 < r["order"] < 2.05, r


def test_darcy_tensor_with_a_scalar_coefficient_is_darcy():
    """K = a I, k12 = 0: the 9-point scheme reduces to darcy_2d's 5-point scheme."""
    scalar = get_problem("darcy_2d").from_params(17, {"solve_resolution": 33})
    tensor = get_problem("darcy_tensor_2d").from_params(17, {"solve_resolution": 33})
    inputs = tensor.sample_inputs(np.random.default_rng(3))
    assert np.array_equal(inputs["k11"], scalar.sample_inputs(np.random.default_rng(3))["a"])
    u = tensor.solve({k: torch.from_numpy(v)[None] for k, v in inputs.items()})["u"]
    expected = scalar.solve({"a": torch.from_numpy(inputs["k11"])[None]})["u"]
    assert float((u - expected).abs().max() / expected.abs().max()) < 1e-13


@pytest.mark.parametrize("a2", [12.0, 1e6])
def test_darcy_second_order_piecewise_coefficient(a2):
    """Second order only where the interface lies midway between nodes; through nodes (as the
    data's thresholded coefficients have interfaces anywhere) the scheme is first order."""
    r = v.darcy_piecewise(sizes=(16, 32, 64, 128), a2=a2)
    assert 1.9 < r["order"] < 2.1, r
    r = v.darcy_piecewise(sizes=(17, 33, 65, 129), a2=a2)
    assert 0.85 < r["order"] < 1.1, r  # measured 0.92, 0.93


def test_darcy_cg_matches_direct_at_high_contrast():
    p = get_problem("darcy_2d").from_params(33, {"solve_resolution": 33, "contrast": 1e6, "cg_tol": 1e-12})
    a = torch.from_numpy(np.stack([p.sample_inputs(np.random.default_rng(i))["a"] for i in range(3)]))
    from pdekit.numerics import elliptic

    f = torch.ones_like(a)
    direct = elliptic.solve_direct(a, f)
    cg = elliptic.solve_cg(a, f, rtol=1e-12)
    assert float((cg - direct).abs().max() / direct.abs().max()) < 1e-8


def test_a_cg_sample_stops_at_its_own_tolerance_whatever_its_batch():
    """Batched CG used to iterate every sample until the slowest converged, so a sample's bytes
    depended on its batch-mates (a quarter of the values at cg_tol 1e-6): each stops on its own."""
    from pdekit.numerics import elliptic

    p = get_problem("darcy_2d").from_params(33, {"solve_resolution": 33, "contrast": 100.0})
    a = torch.from_numpy(np.stack([p.sample_inputs(np.random.default_rng(i))["a"] for i in range(4)]))
    f = torch.ones_like(a)
    batched = elliptic.solve_cg(a, f, rtol=1e-6)
    alone = torch.cat([elliptic.solve_cg(a[i : i + 1], f[i : i + 1], rtol=1e-6) for i in range(4)])
    assert torch.equal(batched, alone)
    f[1] = 0  # a zero right-hand side beside others: u = 0 there, and the others as before (was NaN)
    mixed = elliptic.solve_cg(a, f, rtol=1e-6)
    assert torch.equal(mixed[1], torch.zeros_like(mixed[1])) and torch.equal(mixed[[0, 2, 3]], alone[[0, 2, 3]])


def test_darcy_residual_vanishes_on_solver_output():
    p = get_problem("darcy_2d").from_params(33, {"solve_resolution": 33})
    a = torch.from_numpy(p.sample_inputs(np.random.default_rng(0))["a"])[None]
    u = p.solve({"a": a})["u"]
    res = p.residual({"u": u}, {"a": a})
    assert float(res.abs().max()) < 1e-9
    assert float(p.residual({"u": u * 1.01}, {"a": a}).abs().max()) > 1e-3
    # a source given with the inputs: the residual reads it as the solver does (it read config.f: 4.7)
    grid = torch.linspace(0, 1, 33, dtype=torch.float64)
    f = (5 * grid[:, None] + 1).expand(33, 33)[None]
    u = p.solve({"a": a, "f": f})["u"]
    assert float(p.residual({"u": u}, {"a": a, "f": f}).abs().max()) < 1e-9


def test_darcy_refuses_coefficients_that_are_not_elliptic():
    """a <= 0 (or an indefinite K) is no elliptic problem: the solve returned a field anyway."""
    from pdekit.errors import ConfigError

    p = get_problem("darcy_2d").from_params(9, {"solve_resolution": 9})
    a = torch.full((1, 9, 9), 3.0)
    a[0, 4, 4] = -1.0
    with pytest.raises(ConfigError, match="a must be positive everywhere, got a minimum of -1"):
        p.solve({"a": a})
    t = get_problem("darcy_tensor_2d").from_params(9, {"solve_resolution": 9})
    one = torch.ones(1, 9, 9, dtype=torch.float64)
    with pytest.raises(ConfigError, match="K must be positive definite everywhere"):
        t.solve({"k11": one, "k12": 3 * one, "k22": one, "f": one})


def test_burgers_residual_is_second_order_in_time():
    """The residual of the exact Cole-Hopf trajectory shrinks 4x per halving of the time spacing, at
    the first and last stored times too (one-sided first-order differences there held 99% of the
    residual's square)."""
    nu, n = 0.05, 64
    x = np.arange(n) / n
    sizes = []
    for nt in (41, 81, 161):
        p = get_problem("burgers_1d").from_params(n, {"nu": nu, "nt": nt, "t_final": 0.5, "solve_resolution": n})
        u = torch.from_numpy(np.stack([v.burgers_exact(x, t, nu, a=2.0) for t in p.times()]))[None]
        sizes.append(float(p.residual({"u": u}).abs().max()))  # the first and last stored times included
    assert 3.6 < sizes[0] / sizes[1] < 4.4 and 3.6 < sizes[1] / sizes[2] < 4.4, sizes


def test_navier_stokes_residual_of_solver_output_is_second_order_in_time():
    """The solver's trajectory satisfies the problem's residual up to its O(dt_store^2) time
    differences: halving the spacing of stored times divides the residual by about 4."""
    sizes = []
    for nt in (11, 21, 41):
        p = get_problem("navier_stokes_2d").from_params(
            32, {"solve_resolution": 32, "t_final": 0.5, "nt": nt, "dt": 0.0125})
        w = p.solve({"w0": v._ns_initial(32)[None]})["vorticity"]
        sizes.append(float(p.residual({"vorticity": w}).abs().max()))  # the end times included
    assert 3.6 < sizes[0] / sizes[1] < 4.4 and 3.6 < sizes[1] / sizes[2] < 4.4, sizes


def test_kuramoto_sivashinsky_fourth_order_in_time_on_the_attractor():
    r = v.ks_time()
    assert 3.5 < r["order"] < 4.3 and r["errors"][-1] < 1e-8, r


def test_kuramoto_sivashinsky_spectral_in_space():
    _spectral(v.ks_space()["errors"], floor=1e-12, min_factor=1000)


def test_allen_cahn_fourth_order_in_time():
    r = v.allen_cahn_time()
    assert 3.8 < r["order"] < 4.4, r


def test_allen_cahn_spectral_in_space():
    _spectral(v.allen_cahn_space()["errors"], floor=1e-6, min_factor=40)


def test_advection_is_an_exact_shift():
    assert max(v.advection_exact()["errors"]) < 1e-13


def test_diffusion_reaction_fourth_order_against_the_logistic_solution():
    r = v.diffusion_reaction_time()
    assert 3.8 < r["order"] < 4.4 and r["errors"][-1] < 1e-6, r


def test_diffusion_reaction_spectral_in_space():
    _spectral(v.diffusion_reaction_space()["errors"], floor=1e-13, min_factor=1000)


def test_kdv_fourth_order_in_time_against_the_soliton():
    r = v.kdv_time()
    assert 3.8 < r["order"] < 4.5 and r["errors"][-1] < 1e-6, r


def test_kdv_spectral_in_space_against_the_soliton():
    _spectral(v.kdv_space()["errors"], floor=1e-6, min_factor=20)


def test_wave_second_order_in_time_and_energy_within_order_dt_squared():
    r = v.wave_time()
    assert 1.9 < r["order"] < 2.1, r
    r = v.wave_time(steps=(100, 200, 400), c=2.0)  # at c = 1, c and c^2 cannot be told apart
    assert 1.9 < r["order"] < 2.1 and r["errors"][-1] < 9e-3, r  # measured 8.3e-3
    e = v.wave_energy()
    assert 1.9 < e["order"] < 2.1 and e["errors"][-1] < 1e-3, e


def test_the_lshape_pinn_reference_converges_at_the_corner_singularitys_orders():
    """Five-point differences on the L-shape, h = 1/16 .. 1/64 against 1/256: max-norm errors 5.2e-3,
    3.2e-3, 1.8e-3 (order 0.76, near the corner's 2/3), relative L2 7.9e-3, 3.0e-3, 1.1e-3 (order
    1.43, near 4/3); a lost boundary does not converge. Self-convergence cannot see the sign or
    scale of the scheme (-u converges alike): the comparison principle bounds u between the
    solutions on the square [-1, 0]^2 inside it and on [-1, 1]^2 around it, whose centre values
    (torsion of a square) are 0.07367 and 0.29469 (measured u(-1/2, -1/2) = 0.1308), and u > 0."""
    from pdekit.problems.poisson_lshape import poisson_l_reference

    axis, u = poisson_l_reference(32)
    centre = list(axis).index(-0.5)
    assert 0.07367 < u[centre, centre] < 0.29469 and np.nanmin(u) > 0
    r = v.poisson_lshape_reference()
    assert 0.6 < r["order"] < 0.9 and r["errors"][-1] < 2e-3, r
    r = v.poisson_lshape_reference(norm="l2")
    assert 1.25 < r["order"] < 1.6 and r["errors"][-1] < 1.2e-3, r


def test_spectral_first_derivatives_treat_every_axis_alike():
    """(-1)^i sin(2 pi y_j) has no x-derivative at the grid points (its x-part is the Nyquist mode,
    of ambiguous sign): 0 along x as along y for the transposed field (along x it was 16 pi), and a
    resolved mode keeps its exact derivative."""
    import math

    from pdekit.numerics.spectral import derivative

    n = 16
    i = torch.arange(n, dtype=torch.float64)
    f = ((-1.0) ** i)[:, None] * torch.sin(2 * math.pi * i / n)[None, :]
    # (round-off: 6e-31 on one machine's FFT, exactly 0 on another's; the defect gave 16 pi)
    assert float(derivative(f, 2, 0).abs().max()) < 1e-12 and float(derivative(f.T, 2, 1).abs().max()) < 1e-12
    g = torch.sin(6 * math.pi * i / n)[:, None] * torch.cos(2 * math.pi * i / n)[None, :]
    exact = 6 * math.pi * torch.cos(6 * math.pi * i / n)[:, None] * torch.cos(2 * math.pi * i / n)[None, :]
    assert float((derivative(g, 2, 0) - exact).abs().max()) < 1e-12
    assert float((derivative(g, 2, 0, order=2) + 36 * math.pi**2 * g).abs().max()) < 1e-11
