"""The learned stencil (method of lines): read back after training on advection-diffusion data, it
is the central-difference discretization of u_t = -beta u_x + nu u_xx."""

import numpy as np
import pytest
import torch

from pdekit.errors import ConfigError
from pdekit.models import build_model
from pdekit.pipeline import evaluate_run, run_recipe
from pdekit.recipes import load_recipe


def test_advection_stencil_recovers_the_central_differences(tmp_path, monkeypatch):
    """beta = 1, nu = 0.005, h = 1 / 64: [beta / 2h + nu / h^2, -2 nu / h^2, -beta / 2h + nu / h^2] =
    [52.48, -40.96, -11.52]. Measured: [53.03, -41.51, -11.51] (quick variant), within 1.1% of the
    largest; the best 3-point stencil for data with k h up to 0.29 is not exactly Taylor's (the
    symbol of the central u_x is k (1 - (k h)^2 / 6)), so 2% bounds it."""
    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    recipe = load_recipe("advection_stencil", quick=True, overrides=["data.n_train=8", "data.n_test=4",
                                                                    "train.epochs=5", "train.lbfgs_steps=100"])
    metrics = run_recipe(recipe, str(tmp_path / "run"), quiet=True)
    h, beta, nu = 1 / 64, 1.0, 0.005
    exact = np.array([beta / (2 * h) + nu / h**2, -2 * nu / h**2, -beta / (2 * h) + nu / h**2])
    learned = np.array(metrics["learned_stencil"])[0, 0]
    assert np.abs(learned - exact).max() < 0.02 * np.abs(exact).max(), learned
    assert metrics["trajectory_rel_l2"] < 0.05 and metrics["stable"]
    again = evaluate_run(str(tmp_path / "run"))  # the L-BFGS weights in their own precision, as the run scored
    assert again["trajectory_rel_l2"] == metrics["trajectory_rel_l2"]
    assert again["learned_stencil"] == metrics["learned_stencil"]
    shown = "[[[" + ", ".join(f"{w:.4g}" for w in learned) + "]]]"  # the recipe's point, in its report
    assert f"| learned_stencil | {shown} |" in (tmp_path / "run/report.md").read_text()


def test_the_read_back_is_what_the_wrapper_applies():
    """With bundling, two fields, a history of 2 and nonzero means, the reported stencil and offset
    reproduce the wrapper's du/dt exactly: u_t = sum w u(x + j h) + offset."""
    from pdekit.train.rollout import Autoregressive

    torch.manual_seed(0)
    net = build_model({"name": "stencil", "width": 3}, 4, 4, 1)
    torch.nn.init.normal_(net.conv.weight)
    model = Autoregressive(net, channels=2, history=2, target="derivative", integrator="euler", dt=0.1, bundle=2)
    model.mean.copy_(torch.tensor([0.5, -1.0]))
    model.std.copy_(torch.tensor([2.0, 0.5]))
    model.rate.copy_(torch.tensor([3.0, 0.25]))
    states = torch.randn(3, 2, 2, 16, dtype=torch.float64)
    report = net.report(model)
    w, offset = (torch.tensor(report[k], dtype=torch.float64) for k in ("learned_stencil", "learned_offset"))
    u = states.flatten(1, 2)  # (batch, history * channels, x)
    shifted = torch.stack([torch.roll(u, 1, -1), u, torch.roll(u, -1, -1)], dim=-1)  # u(x - h), u(x), u(x + h)
    expected = torch.einsum("oij,bixj->box", w, shifted) + offset[None, :, None]
    got = model.double().derivative(states).flatten(1, 2)  # (batch, bundle * channels, x)
    assert float((got - expected).abs().max()) < 1e-10


def test_stencil_config_errors():
    with pytest.raises(ConfigError, match="odd"):
        build_model({"name": "stencil", "width": 4}, 1, 1, 1)
    with pytest.raises(ConfigError, match="1D periodic"):
        build_model({"name": "stencil"}, 1, 1, 2)
    model = build_model({"name": "stencil", "width": 5}, 2, 1, 1)
    assert model(torch.randn(3, 2, 16)).abs().max() == 0  # starts from u_t = 0
    from pdekit.models.registry import as_trained

    for name in ("stencil", "latent_ode"):  # their convolutions wrap around: node data had their ends joined
        with pytest.raises(ConfigError, match=f"model {name} wraps around the grid's ends.*this data's grid is nodes"):
            build_model({"name": name}, 1, 1, 1, "nodes")
        build_model({"name": name}, 1, 1, 1, "periodic")
        # a run recorded on nodes before the refusal is rebuilt as it ran: wrapping around, as on a periodic grid
        assert as_trained({"name": name}, "nodes", {"grid_revision": 3}) == ({"name": name}, "periodic")


def test_lbfgs_in_a_rollout_task_needs_every_window_in_one_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    recipe = load_recipe("advection_stencil", quick=True, overrides=["data.n_train=8", "data.n_test=4",
                                                                    "train.batch_size=64"])
    with pytest.raises(ConfigError, match="set train.batch_size >= 800 \\(it is 64\\)"):
        run_recipe(recipe, str(tmp_path / "run"), quiet=True)
    assert not (tmp_path / "run").exists()  # refused at setup: the corrected command may use the same folder
    (tmp_path / "mine").mkdir()  # a folder the user made is left, emptied of what the run wrote
    with pytest.raises(ConfigError, match="set train.batch_size >= 800"):
        run_recipe(recipe, str(tmp_path / "mine"), quiet=True)
    assert (tmp_path / "mine").is_dir() and not any((tmp_path / "mine").iterdir())
