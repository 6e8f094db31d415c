"""MP-PDE's combined equation (problems/combined.py): the solver's order, per-sample coefficients
and the scenarios' parameter draws."""

import numpy as np
import pytest
import torch

from pdekit import verification as v
from pdekit.data.generate import draw_inputs, solve_samples
from pdekit.errors import UnstableError
from pdekit.problems import get_problem


def test_the_reference_solver_converges_at_fifth_order():
    """WENO5 with fourth-order viscous differences, forced, alpha = 1, beta = 0.1, t = 1: errors
    3.3e-3, 1.2e-4, 2.7e-6 on 50, 100, 200 points against 800, order 5.13."""
    r = v.combined_space()
    assert r["order"] > 4.6 and r["errors"][-1] < 1e-5, r


def test_ssp_rk3_converges_at_third_order_in_time():
    """The same forced, viscous case on 100 points with 25 .. 200 steps against 3,200: errors
    3.1e-6, 3.8e-7, 4.8e-8, 5.9e-9, order 3.01 (the forcing at the stages' own times)."""
    r = v.combined_time()
    assert 2.9 < r["order"] < 3.1 and r["errors"][-1] < 1e-8, r


def test_each_sample_solves_with_its_own_coefficients():
    """E3's draws (alpha in [0, 6], beta in [0.1, 0.4], gamma in [0, 1]) lie in their ranges, and a
    sample of the batch equals a solve with its coefficients as the config's (same dt)."""
    e3 = {"alpha": 0.0, "alpha_max": 6.0, "beta": 0.1, "beta_max": 0.4, "gamma": 0.0, "gamma_max": 1.0,
          "t_final": 0.2, "nt": 3, "solve_resolution": 40}
    problem = get_problem("combined_1d").from_params(40, e3)
    dt = problem.time_step(40)
    problem = get_problem("combined_1d").from_params(40, {**e3, "dt": dt})
    out = solve_samples(problem, 5, range(3))
    params = {k: out[f"params/{k}"] for k in ("alpha", "beta", "gamma")}
    assert (0 <= params["alpha"]).all() and (params["alpha"] <= 6).all() and len(set(params["alpha"])) == 3
    assert (0.1 <= params["beta"]).all() and (params["beta"] <= 0.4).all() and (params["gamma"] <= 1).all()
    one = {"t_final": 0.2, "nt": 3, "solve_resolution": 40, "dt": dt, **{k: float(v[2]) for k, v in params.items()}}
    single = get_problem("combined_1d").from_params(40, one)
    inputs = draw_inputs(problem, 5, range(2, 3))
    inputs = {k: w for k, w in inputs.items() if k in ("u0", "waves")}
    alone = single.solve(inputs)["u"][0].float().numpy()
    np.testing.assert_allclose(out["fields/u"][2], alone, atol=1e-6)
    assert not np.allclose(out["fields/u"][0], out["fields/u"][1])


def test_the_initial_condition_is_the_forcing_at_t0_and_a_blow_up_is_reported():
    problem = get_problem("combined_1d").from_params(50, {"solve_resolution": 50, "nt": 3, "t_final": 0.1})
    inputs = draw_inputs(problem, 0, range(1))
    x = torch.from_numpy(problem.solve_points())
    np.testing.assert_allclose(inputs["u0"][0].numpy(), problem._forcing(inputs["waves"], x, 0.0)[0].numpy(), atol=1e-14)
    assert float(inputs["u0"].mean()) == pytest.approx(0.0, abs=1e-14)  # the forcing's waves have l >= 1
    tight = get_problem("combined_1d").from_params(50, {"solve_resolution": 50, "nt": 3, "t_final": 0.1,
                                                        "u_bound": 0.05})
    with pytest.raises(UnstableError, match="u_bound"):
        tight.solve(draw_inputs(tight, 0, range(1)))


def test_a_time_step_beyond_the_stable_one_is_refused():
    """A user's dt above the stable step for the coefficients and u_bound is a ConfigError naming
    that step (3.6x the automatic one gave an error of 1.2e-2 without any message); the stable step
    itself is taken, and a smaller u_bound allows a larger dt."""
    from pdekit.errors import ConfigError
    from pdekit.numerics import weno

    params = {"solve_resolution": 50, "nt": 3, "t_final": 0.1, "beta": 0.1}
    stable = weno.stable_dt(16 / 50, 1.0, 0.1, 0.0, 5.0, "weno5", safety=1.0)
    assert get_problem("combined_1d").from_params(50, {**params, "dt": stable}).time_step(50) == stable
    with pytest.raises(ConfigError, match=f"exceeds the stable step {stable:.4g} on 50 points"):
        get_problem("combined_1d").from_params(50, {**params, "dt": 1.01 * stable}).time_step(50)
    assert get_problem("combined_1d").from_params(50, {**params, "dt": 1.01 * stable, "u_bound": 4.0}).time_step(50)
