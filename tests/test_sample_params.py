"""Parameters drawn per sample (Burgers' viscosity): the batched solver and stepper with each
sample's own value, the stored /params, and a rollout recipe conditioned on them."""

import json

import h5py
import numpy as np
import pytest
import torch

from pdekit.data.generate import draw_inputs, generate, solve_samples
from pdekit.errors import ConfigError
from pdekit.problems import get_problem

PARAMS = {"nu": 0.01, "nu_max": 0.1, "nt": 6, "t_final": 0.25, "solve_resolution": 256, "dt": 2e-3}


def _burgers(**changes):
    return get_problem("burgers_1d").from_params(64, {**PARAMS, **changes})


def test_each_sample_is_solved_with_its_own_viscosity():
    """A batch with per-sample nu gives each sample the trajectory the problem with that one nu
    gives it (bitwise here), the initial states are those of the fixed-nu stream, and nu is drawn
    log-uniformly from [nu, nu_max]."""
    varying, fixed = _burgers(), _burgers(nu_max=0.0)
    assert varying.sample_params == {"nu": (0.01, 0.1)} and fixed.sample_params == {}
    out = solve_samples(varying, 0, range(6))
    nu = out["params/nu"]
    assert nu.dtype == np.float64 and nu.shape == (6,) and np.all((nu >= 0.01) & (nu <= 0.1))
    np.testing.assert_array_equal(out["fields/u"][:, 0], solve_samples(fixed, 0, range(6))["fields/u"][:, 0])
    for i in (0, 5):
        alone = solve_samples(_burgers(nu=float(nu[i]), nu_max=0.0), 0, range(i, i + 1))["fields/u"][0]
        np.testing.assert_allclose(out["fields/u"][i], alone, rtol=0, atol=1e-7 * np.abs(alone).max())
    many = np.log10([float(draw_inputs(varying, 1, range(j, j + 1))["nu"][0]) for j in range(400)])
    assert abs(many.mean() + 1.5) < 0.05 and abs(many.std() - 1 / np.sqrt(12)) < 0.02  # uniform in log10: [-2, -1]
    # the viscosity matters: the samples' decay differs from the one-nu solve
    assert np.abs(out["fields/u"][:, -1] - solve_samples(fixed, 0, range(6))["fields/u"][:, -1]).max() > 1e-2


def test_the_stepper_and_the_residual_take_the_samples_viscosity():
    """step() from each stored state with the state's nu reproduces the trajectory to round-off;
    the residual of the trajectory with its own nu is small, with the config's nu it is not."""
    problem = _burgers()
    inputs = draw_inputs(problem, 0, range(3))
    trajectory = problem.solve(inputs)["u"]
    state = {"u": trajectory[:, 0], "nu": inputs["nu"]}
    for i, (t0, t1) in enumerate(zip(problem.times()[:-1], problem.times()[1:])):
        state = {**problem.step(state, t1 - t0), "nu": inputs["nu"]}
        assert float((state["u"] - trajectory[:, i + 1]).abs().max()) < 1e-13 * float(trajectory.abs().max())
    fine = get_problem("burgers_1d").from_params(256, {**PARAMS, "nt": 101})
    u = fine.solve(draw_inputs(fine, 0, range(3)))["u"]
    own = fine.residual({"u": u}, {"nu": draw_inputs(fine, 0, range(3))["nu"]})[:, 10:-10].abs().mean()
    config = get_problem("burgers_1d").from_params(256, {**PARAMS, "nt": 101, "nu_max": 0.0})
    config = config.residual({"u": u}, {})[:, 10:-10].abs().mean()  # one nu, the config's, for all
    assert float(own) < 0.1 * float(config), (float(own), float(config))
    from pdekit.errors import PdekitError

    with pytest.raises(PdekitError, match="draws 'nu' per sample"):  # not the config's nu, silently
        problem.step({"u": trajectory[:, 0]}, 0.05)
    with pytest.raises(PdekitError, match="per-sample 'nu' must be finite and positive"):
        problem.step({"u": trajectory[:, 0], "nu": torch.tensor([0.01, -0.01, 0.02])}, 0.05)


def test_the_file_stores_the_parameters_and_refuses_bad_ranges(tmp_path):
    from pdekit.data.trajectories import load_trajectories

    problem = _burgers()
    generate(problem, 5, 0, str(tmp_path / "b.h5"), batch_size=2, quiet=True)
    with h5py.File(tmp_path / "b.h5") as f:
        stored = f["params/nu"][()]
        assert f["params/nu"].dtype == np.float64 and json.loads(f.attrs["config"])["params"]["nu_max"] == 0.1
    np.testing.assert_array_equal(stored, solve_samples(problem, 0, range(5))["params/nu"])
    _, _, meta = load_trajectories(str(tmp_path / "b.h5"))
    np.testing.assert_array_equal(meta["params"]["nu"], stored)
    with pytest.raises(ConfigError, match="nu_max = 0.005 must exceed nu"):
        _burgers(nu_max=0.005)
    from pdekit.recipes import load_recipe

    with pytest.raises(ConfigError, match="does not take parameters drawn per sample"):
        load_recipe("burgers_fno", quick=True, overrides=["data.params.nu_max=0.5", "train.physics_weight=0.1",
                                                          "data.trajectory=true"])
    with pytest.raises(ConfigError, match="cavity_2d has no input"):
        load_recipe("cavity_unet", quick=True, overrides=["data.params.re_max=0"])
    with pytest.raises(ConfigError, match="needs a model with an embedding"):
        load_recipe("burgers_rollout", quick=True, overrides=["rollout.conditioning=embedding"])


@pytest.mark.parametrize("conditioning", ["channels", "embedding"])
def test_burgers_rollout_conditions_on_nu_and_the_solver_uses_it(tmp_path, conditioning):
    """The recipe runs end to end with the viscosity fed as a channel (FNO) or to the U-Net's
    embedding; the checkpoint records the conditioning so evaluation rebuilds the model, and the
    solver started from the stored states with each trajectory's own nu reproduces the truth."""
    from pdekit.pipeline import evaluate_run, run_recipe
    from pdekit.recipes import load_recipe

    model = ["model={name: unet, hidden: 8, channel_mults: [1, 2]}"] if conditioning == "embedding" else [
        "model.hidden_channels=8", "model.modes=8"]
    recipe = load_recipe("burgers_rollout", quick=True, overrides=[
        "data.n_train=8", "data.n_val=2", "data.n_test=3", "train.epochs=2", "eval.timing_rounds=1",
        "data.params={nu: 0.01, nu_max: 0.1, t_final: 0.2, nt: 11, dt: 1.0e-3, solve_resolution: 128}",
        f"rollout.conditioning={conditioning}", *model])
    metrics = run_recipe(recipe, str(tmp_path / "run"), quiet=True)
    state = torch.load(tmp_path / "run/checkpoint.pt", weights_only=False)
    assert state["cond_log"] == [True] and len(metrics["rollout_rel_l2"]) == 10
    assert metrics["solver_ladder"][0]["rel_l2"] < 1e-5, metrics["solver_ladder"][0]
    again = evaluate_run(str(tmp_path / "run"))
    assert again["rollout_rel_l2"] == metrics["rollout_rel_l2"]


def test_operator_pairs_carry_the_parameters_as_channels(tmp_path):
    """An operator task reads each per-sample parameter as one more input channel, constant over
    the grid (log nu: Burgers draws nu on a log scale); a solver worker of online training hands
    out the very pairs the generated file gives."""
    from pdekit.data.dataset import PairTask, load_pairs
    from pdekit.data.online import solved_pairs

    problem = _burgers()
    generate(problem, 4, 0, str(tmp_path / "b.h5"), quiet=True)
    x, y, _ = load_pairs(str(tmp_path / "b.h5"), 0, -1)
    nu = solve_samples(problem, 0, range(4))["params/nu"]
    assert x.shape == (4, 2, 64) and y.shape == (4, 1, 64) and problem.pair_channels() == (2, 1)
    np.testing.assert_allclose(x[:, 1], np.log(nu)[:, None].repeat(64, 1).astype(np.float32), rtol=0, atol=0)
    online = solved_pairs(problem, 0, [1, 3], PairTask(0, -1))
    assert np.array_equal(online[0], x[[1, 3]].numpy()) and np.array_equal(online[1], y[[1, 3]].numpy())
    for task in (PairTask(0, -1), PairTask(0, -1, True), PairTask(0, -1, True, 2)):  # the model is built from shape
        pairs = solved_pairs(problem, 0, [0, 1], task)
        (c_in, c_out), ndim = task.shape(problem.channels(), problem.ndim, len(problem.sample_params))
        assert (pairs[0].shape[1], pairs[1].shape[1], pairs[0].ndim - 2) == (c_in, c_out, ndim), task


def test_the_solver_comparison_solves_each_sample_at_its_own_parameter(tmp_path):
    """An operator recipe on Burgers with nu per sample: the input carries log nu, and the solver at
    the data's setting, given each test sample's nu, reproduces the stored targets (the comparison
    strips the parameter channel before checking it solves the stored inputs)."""
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe

    recipe = load_recipe("burgers_fno", quick=True, overrides=[
        "data.resolution=64", "data.params={nu: 0.01, nu_max: 0.1, t_final: 0.25, dt: 2.0e-3, solve_resolution: 256}",
        "data.n_train=8", "data.n_val=2", "data.n_test=4", "train.epochs=1", "eval.timing_rounds=1",
        "model.hidden_channels=8", "eval.resolutions=[]"])
    metrics = run_recipe(recipe, str(tmp_path / "run"), quiet=True)
    assert metrics["solver_ladder"] and metrics["solver_ladder"][0]["rel_l2"] < 1e-6, metrics["solver_ladder_skipped"]


def test_cavity_unet_learns_the_flow_from_the_reynolds_number(tmp_path):
    """The operator recipe maps log Re (a constant channel, with the grid coordinates) to u, v, p;
    the solver comparison re-solves the test samples at their own Re. A tiny run beats the
    training samples' mean flow by far (measured 0.028 against 0.126). eval.held_out scores a
    second test set made with other parameters: given the training's own range it is the test
    split itself, so its error is the test error exactly."""
    from pdekit.data.dataset import load_pairs
    from pdekit.eval.metrics import relative_l2
    from pdekit.pipeline import prepare_data, run_recipe
    from pdekit.recipes import load_recipe

    recipe = load_recipe("cavity_unet", quick=True, overrides=[
        "data.resolution=17", "data.params={re: 100.0, re_max: 1000.0, solve_resolution: 17}", "data.n_train=24",
        "data.n_val=4", "data.n_test=6", "model.hidden=8", "train.epochs=80", "eval.timing_rounds=1", "eval.timing_samples=2",
        "eval.held_out={re: 100.0, re_max: 1000.0}"])
    metrics = run_recipe(recipe, str(tmp_path / "run"), quiet=True)
    files = prepare_data(recipe, quiet=True)
    (_, y_train, _), (x_test, y_test, _) = load_pairs(files["train"]), load_pairs(files["test"])
    mean_flow = float(relative_l2(y_train.mean(0, keepdim=True).expand_as(y_test), y_test).mean())
    assert x_test.shape[1] == 1 and metrics["test_rel_l2"] < 0.5 * mean_flow, (metrics["test_rel_l2"], mean_flow)
    assert metrics["solver_ladder"][0]["rel_l2"] < 1e-6
    assert metrics["held_out"]["rel_l2"] == metrics["test_rel_l2"]
    beyond = load_recipe("cavity_unet", quick=True, overrides=["data.resolution=17",
                                                                "data.params={re: 100.0, re_max: 1000.0, solve_resolution: 17}"])
    held = prepare_data(beyond, quiet=True)["held_out"]
    with h5py.File(held) as f:  # the test split's indices, at Reynolds numbers in [1000, 2000]
        assert np.all((f["params/re"][()] >= 1000) & (f["params/re"][()] <= 2000)) and f.attrs["problem"] == "cavity_2d"
    from pdekit.eval.evaluate import evaluate
    from pdekit.train.supervised import load_trained

    trained, _ = load_trained(str(tmp_path / "run"))
    scored, _ = evaluate(trained, recipe, files["test"], {}, rounds=1, held_out_file=held)
    assert scored["test_rel_l2"] == metrics["test_rel_l2"] and scored["held_out"]["rel_l2"] != metrics["test_rel_l2"]
    with pytest.raises(ConfigError, match="eval.held_out must keep the inputs"):
        load_recipe("cavity_unet", quick=True, overrides=["eval.held_out={re_max: 0}"])


KS = {"length": 16.0, "length_max": 64.0, "t_final": 2.0, "nt": 5, "spinup": 5.0, "solve_resolution": 128}


def _ks(**changes):
    return get_problem("kuramoto_sivashinsky_1d").from_params(64, {**KS, **changes})


def test_each_kuramoto_sivashinsky_sample_runs_on_its_own_length():
    """With length_max each sample's n points span its own [0, L): the batch gives each sample the
    trajectory the problem with that one L gives it (bitwise), from the initial conditions of the
    fixed-L stream, with L uniform in [length, length_max]; the stepper from a stored state with
    its L reproduces the trajectory to round-off, and the residual with each sample's own L is
    small where the config's one L leaves it large."""
    varying, fixed = _ks(), _ks(length_max=0.0)
    assert varying.sample_params == {"length": (16.0, 64.0)} and varying.pair_channels() == (2, 1)
    inputs = draw_inputs(varying, 0, range(4))
    np.testing.assert_array_equal(inputs["u0"].numpy(), draw_inputs(fixed, 0, range(4))["u0"].numpy())
    out = solve_samples(varying, 0, range(4))
    lengths = out["params/length"]
    for i in (0, 3):
        alone = solve_samples(_ks(length=float(lengths[i]), length_max=0.0), 0, range(i, i + 1))["fields/u"][0]
        np.testing.assert_array_equal(out["fields/u"][i], alone)
    many = np.array([float(draw_inputs(varying, 1, range(j, j + 1))["length"][0]) for j in range(400)])
    assert abs(many.mean() - 40) < 2.5 and abs(many.std() - 48 / np.sqrt(12)) < 1.2  # uniform in [16, 64]
    trajectory = varying.solve(inputs)["u"]
    state = {"u": trajectory[:, 0], "length": inputs["length"]}
    for i, (t0, t1) in enumerate(zip(varying.times()[:-1], varying.times()[1:])):
        state = {**varying.step(state, t1 - t0), "length": inputs["length"]}
        assert float((state["u"] - trajectory[:, i + 1]).abs().max()) < 1e-12 * float(trajectory.abs().max())
    fine = _ks(nt=201)
    u = fine.solve(draw_inputs(fine, 0, range(4)))["u"]
    own = fine.residual({"u": u}, {"length": draw_inputs(fine, 0, range(4))["length"]})[:, 5:-5].abs().mean()
    config = _ks(nt=201, length_max=0.0).residual({"u": u}, {})[:, 5:-5].abs().mean()  # one L for all
    assert float(own) < 0.01 * float(config), (float(own), float(config))
    from pdekit.errors import PdekitError

    with pytest.raises(PdekitError, match="draws 'length' per sample"):  # a second step() needs it again
        varying.step(varying.step(state, 0.5), 0.5)
    for bad in ({"length_max": float("inf")}, {"length": float("inf"), "length_max": 0.0}):
        with pytest.raises(ConfigError, match="finite"):
            _ks(**bad)
    from types import SimpleNamespace

    from pdekit.data.symmetry import problem_augmentation

    pair = SimpleNamespace(trajectory=False, input_time=0, target_time=-1)  # an operator recipe's u0 -> u(T)
    problem_augmentation(varying, pair)  # shifts: a symmetry at every length
    with pytest.raises(ConfigError, match="draws the length per sample"):
        problem_augmentation(varying, pair, boost=0.1)


def test_ks_rollout_conditions_on_the_length_and_refuses_a_boost_across_lengths(tmp_path):
    """ks_rollout with data.params.length_max: the model reads L as a channel (not on a log scale),
    and the solver at the data's setting, given each test trajectory's L, reproduces the truth; a
    Galilean boost (a shift by c t in one length) is refused."""
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe

    data = ["data.params={length: 16.0, length_max: 64.0, t_final: 2.0, nt: 11, spinup: 5.0, solve_resolution: 128}"]
    recipe = load_recipe("ks_rollout", quick=True, overrides=[
        *data, "data.n_train=8", "data.n_val=2", "data.n_test=3", "train.epochs=2", "eval.timing_rounds=1",
        "model.hidden_channels=8", "model.modes=8", "train.augment=true"])
    metrics = run_recipe(recipe, str(tmp_path / "run"), quiet=True)
    state = torch.load(tmp_path / "run/checkpoint.pt", weights_only=False)
    assert state["cond_log"] == [False] and len(metrics["rollout_rel_l2"]) == 10
    # float32 storage, grown by the chaos over 2 time units (measured 1.6e-6; one L for all: order 1)
    assert metrics["solver_ladder"][0]["rel_l2"] < 1e-5, metrics["solver_ladder"][0]
    with pytest.raises(ConfigError, match="draws the length per sample"):
        load_recipe("ks_rollout", quick=True, overrides=[*data, "train.augment=true", "train.augment_boost=0.1"])


def test_the_etdrk4_coefficients_of_a_per_sample_operator_are_made_in_pieces(monkeypatch):
    """A per-sample linear part (batch, modes) is evaluated on the contour in pieces of _CHUNK
    entries (the contour multiplies memory by 64: 1.5 GB -> 0.5 GB peak for 50 Burgers samples at
    8192 points): bitwise the numbers of one piece, in their places."""
    from pdekit.numerics import etdrk4, spectral

    nu = torch.logspace(-2, -1, 7, dtype=torch.float64)[:, None]
    lin = -nu * spectral.wavenumbers(256, real=True) ** 2  # (7, 129)
    whole = etdrk4._coefficients(lin, 1e-3)
    monkeypatch.setattr(etdrk4, "_CHUNK", 100)  # 903 entries: 9 pieces and a remainder
    pieces = etdrk4._coefficients(lin, 1e-3)
    assert all(p.shape == (7, 129) and torch.equal(p, w) for p, w in zip(pieces, whole))
    assert not torch.equal(whole[2][0], whole[2][1])  # the rows differ: a mix-up would show


def test_an_operator_recipe_on_ks_reads_each_samples_length(tmp_path):
    """u0 -> u(T) on Kuramoto-Sivashinsky with L drawn per sample: the input carries L (a channel,
    not on a log scale), and the solver at the data's setting, given each test sample's L,
    reproduces the stored targets (with the config's one L it would not: order 1)."""
    from pdekit.data.dataset import load_pairs
    from pdekit.pipeline import prepare_data, run_recipe
    from pdekit.recipes import load_recipe

    recipe = load_recipe("burgers_fno", quick=True, overrides=[
        "data.problem=kuramoto_sivashinsky_1d", "data.resolution=64",
        "data.params={length: 16.0, length_max: 64.0, t_final: 1.0, nt: 2, spinup: 5.0, solve_resolution: 128}",
        "data.n_train=8", "data.n_val=2", "data.n_test=3", "train.epochs=1", "eval.timing_rounds=1",
        "model.hidden_channels=8", "eval.resolutions=[]"])
    metrics = run_recipe(recipe, str(tmp_path / "run"), quiet=True)
    x, _, _ = load_pairs(prepare_data(recipe, quiet=True)["test"])
    assert x.shape == (3, 2, 64) and float(x[:, 1].min()) >= 16 and float(x[:, 1].max()) <= 64
    # the solver starts from the stored u(0) as the surrogate does (the data are stored after a spin-up):
    # float32 on 64 of the 128 solve points, which KS carries to 1.3e-6 at t = 1 (from the solver's own
    # state, before, 1e-7)
    assert metrics["solver_ladder"][0]["rel_l2"] < 5e-6, metrics["solver_ladder"][0]
