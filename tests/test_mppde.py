"""The message-passing PDE solver and temporal bundling: equivariance, grid against scattered
points, overfitting a tiny batch, the bundled update, and `pdekit run combined_mppde`."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from pdekit.errors import ConfigError, PdekitError
from pdekit.eval.rollout import accumulated_error
from pdekit.models import build_model
from pdekit.models.mppde import MPPDE
from pdekit.train.rollout import Autoregressive, RolloutConfig, RolloutTask


def _model(**kw):
    torch.manual_seed(0)
    return build_model({"name": "mppde", "hidden": 32, "layers": 3, **kw}, 3, 2, 1, "periodic")


def test_a_periodic_grid_graph_is_translation_equivariant():
    """Relative positions only: shifting the input around the periodic grid shifts the output."""
    model, x = _model(), torch.randn(2, 3, 40)
    y = model(x)
    assert y.shape == (2, 2, 40)
    assert float((model(torch.roll(x, 7, dims=-1)) - torch.roll(y, 7, dims=-1)).abs().max()) < 1e-5
    src, dst, rel, degree = model.graph((40,), "cpu")
    assert len(src) == 40 * 6 and float(degree.min()) == float(degree.max()) == 6  # three neighbours on each side
    assert float(rel.abs().max()) == pytest.approx(1.0)


@pytest.mark.parametrize("grid, shape, neighbors", [("nodes", (9, 7), 2), ("periodic", (16, 12), 2), ("nodes", (20,), 3)])
def test_grid_graphs_hold_every_pair_within_the_radius(grid, shape, neighbors):
    """The shifts-of-the-index graph against all pairs by brute force (periodic distance where the
    grid is periodic): the same edges, relative positions x_dst - x_src."""
    model = MPPDE(1, 1, len(shape), grid, hidden=4, layers=1, neighbors=neighbors)
    src, dst, rel, _ = model.graph(shape, "cpu")
    axes = [torch.arange(n, dtype=torch.float64) / (n if grid == "periodic" else n - 1) for n in shape]
    points = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(shape))
    d = points[:, None] - points[None]
    d = d - torch.round(d) if grid == "periodic" else d
    radius = neighbors / (shape[0] if grid == "periodic" else shape[0] - 1)
    pairs = torch.nonzero((d.norm(dim=-1) <= radius * (1 + 1e-9)).fill_diagonal_(False))
    assert sorted(zip(dst.tolist(), src.tolist())) == sorted(map(tuple, pairs.tolist()))
    assert torch.allclose(rel[0].double(), (d[dst, src] / radius), atol=1e-6)


def test_a_small_periodic_grid_joins_each_pair_once():
    """With neighbors >= n / 2 the shifts k and k - n reach the same neighbour: 6 points within 3
    spacings had 36 edges, 30 distinct, the half-period pair twice with opposite positions."""
    src, dst, rel, _ = MPPDE(1, 1, 1, "periodic", hidden=4, layers=1, neighbors=3).graph((6,), "cpu")
    pairs = list(zip(dst.tolist(), src.tolist()))
    assert len(pairs) == len(set(pairs)) == 30


def test_the_grid_points_given_as_scattered_points_give_the_same_output():
    """The k-nearest graph of the grid's own points (k = 6) is the grid's graph: same numbers."""
    grid, x = _model(), torch.randn(2, 3, 40)
    scattered = MPPDE(3, 2, 1, "periodic", hidden=32, layers=3, neighbors=6)
    scattered.load_state_dict(grid.state_dict())
    scattered.set_points((torch.arange(40) / 40.0)[:, None], periodic=True)
    assert float((scattered(x) - grid(x)).abs().max()) < 1e-5
    # on irregular points the model runs too, and refuses inputs of another size
    rng = np.random.default_rng(0)
    scattered.set_points(np.sort(rng.random(30))[:, None], periodic=True)
    assert scattered(torch.randn(2, 3, 30)).shape == (2, 2, 30)
    with pytest.raises(ConfigError, match="the input has \\(40,\\) points; set_points gave 30"):
        scattered(x)


def test_scattered_points_are_saved_and_restored_with_the_weights(tmp_path):
    """A model on scattered points saves them in its state_dict (they were a plain attribute: a
    reloaded 1D model read its inputs as a uniform grid, 2e-3 off at initialization), inside a
    wrapper too; a grid model's state has no points and still loads strictly."""
    torch.manual_seed(0)
    points = torch.rand(20, 1, dtype=torch.float64)
    trained = MPPDE(1, 1, hidden=8, layers=2, neighbors=3).set_points(points, periodic=True)
    torch.save(nn.Sequential(trained).state_dict(), tmp_path / "model.pt")
    fresh = nn.Sequential(MPPDE(1, 1, hidden=8, layers=2, neighbors=3))
    fresh.load_state_dict(torch.load(tmp_path / "model.pt"))
    x = torch.randn(2, 1, 20)
    assert torch.equal(fresh[0].points, points) and fresh[0].periodic
    assert torch.equal(fresh(x), trained(x))
    grid = MPPDE(1, 1, hidden=8, layers=2, neighbors=3)
    assert not any("points" in key for key in grid.state_dict())
    from pdekit.train.trainer import check_checkpoint_model

    with pytest.raises(PdekitError, match="on scattered points: give this one the same set_points first"):
        check_checkpoint_model({"model": trained.state_dict()}, grid, "checkpoint.pt")
    MPPDE(1, 1, hidden=8, layers=2, neighbors=3).load_state_dict(grid.state_dict())


def test_mppde_overfits_a_tiny_batch_of_a_local_operator():
    """Learn u -> u_xx (second differences) on 8 random periodic signals: a local map the graph's
    neighbourhoods hold exactly; 300 Adam steps bring the relative error below 5%."""
    torch.manual_seed(0)
    u = torch.randn(8, 1, 32)
    target = torch.roll(u, 1, -1) - 2 * u + torch.roll(u, -1, -1)
    model = build_model({"name": "mppde", "hidden": 32, "layers": 2, "neighbors": 1}, 1, 1, 1, "periodic")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        opt.zero_grad()
        loss = (model(u) - target).pow(2).mean()
        loss.backward()
        opt.step()
    assert float((model(u) - target).norm() / target.norm()) < 0.05


class Constant(nn.Module):
    """A 'network' returning ones: the bundled update is then known in closed form."""

    def __init__(self, out):
        super().__init__()
        self.out, self.w = out, nn.Parameter(torch.ones(()))

    def forward(self, z):
        return self.w * torch.ones(len(z), self.out, *z.shape[2:])


def test_bundling_predicts_k_steps_per_call():
    """Derivative target, bundle 3: u(t + k dt) = u(t) + k dt d_k with d_k the rate; a rollout of 7
    steps takes 3 calls, each continuing from the last predicted state."""
    model = Autoregressive(Constant(3 * 2), channels=2, history=2, target="derivative", integrator="euler", dt=0.1,
                           bundle=3)
    model.rate.copy_(torch.tensor([1.0, 2.0]))
    states = torch.zeros(1, 2, 2, 5)
    out = model.advance(states)
    assert out.shape == (1, 3, 2, 5)
    assert torch.allclose(out[0, :, 1, 0], torch.tensor([0.2, 0.4, 0.6]))
    rollout = model.rollout(states, 7)
    assert rollout.shape == (1, 7, 2, 5)
    assert torch.allclose(rollout[0, :, 0, 0], 0.1 * torch.arange(1, 8, dtype=torch.float32))
    with pytest.raises(PdekitError, match="predicts 3 states per call"):
        model.step(states)
    with pytest.raises(ConfigError, match="integrates each bundled step from the last state by Euler"):
        Autoregressive(Constant(6), channels=2, target="derivative", integrator="rk4", bundle=3)
    # the state target: the K states, denormalized
    model = Autoregressive(Constant(3), channels=1, bundle=3)
    model.mean.fill_(1.0)
    model.std.fill_(2.0)
    assert torch.allclose(model.advance(torch.zeros(1, 1, 1, 4)), torch.full((1, 3, 1, 4), 3.0))


def test_bundled_pushforward_trains_on_the_bundle_after_the_models_own():
    """unroll 2 calls of bundle 2: the second call's 2 steps (targets 2 and 3) are trained, from the
    first call's prediction; an unroll beyond the windows' targets is refused."""
    torch.manual_seed(0)
    x, y = torch.randn(4, 1, 1, 8), torch.randn(4, 4, 1, 8)
    model = Autoregressive(nn.Conv1d(1, 2, 3, padding=1, padding_mode="circular"), channels=1, bundle=2)
    task = RolloutTask((x, y), (x, y), RolloutConfig(mode="pushforward", unroll=2))
    loss, _ = task.loss(model, (x, y, 2, None), 0)
    with torch.no_grad():
        second = model.rollout(x, 4)[:, 2:]
    expected = ((second - y[:, 2:]).flatten(1).norm(dim=1) / y[:, 2:].flatten(1).norm(dim=1)).mean()
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)

    class Cfg:
        seed, batch_size, epochs = 0, 4, 1

    task = RolloutTask((x, y), (x, y), RolloutConfig(mode="pushforward", unroll=3))
    with pytest.raises(ConfigError, match="3 calls of 2 bundled step\\(s\\) need 6 target steps; the windows have 4"):
        task.setup(model, Cfg, "cpu")


def test_accumulated_error_sums_the_steps_mean_squared_error():
    true = torch.zeros(2, 3, 1, 4)
    pred = torch.ones(2, 3, 1, 4) * torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    assert accumulated_error(pred, true) == pytest.approx(1 + 4 + 9)


def test_pdekit_run_combined_mppde_writes_the_output_contract(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = ["data.n_train=8", "data.n_test=4", "train.epochs=1", "model.hidden=16", "model.layers=2"]
    code, out, err = run_cli("run", "combined_mppde", "--quick", "--quiet", "--out", "run", *small)
    assert code == 0, err
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert len(metrics["rollout_rel_l2"]) == len(metrics["rollout_nrmse"]) == 225
    assert {"trajectory_rel_l2", "rollout_gmean100", "correlation_time", "accumulated_error", "stable",
            "rollout_seconds_per_trajectory"} <= set(metrics)
    assert metrics["stability_steps"] == 2250 and math.isfinite(metrics["accumulated_error"])
    saved = np.load(tmp_path / "run/rollout.npz")
    assert saved["pred"].shape == saved["true"].shape == (4, 225, 1, 50)
    np.testing.assert_allclose(saved["t"], 4.0 / 249 * np.arange(25, 250), rtol=1e-9)  # the predicted steps
    assert accumulated_error(torch.from_numpy(saved["pred"]), torch.from_numpy(saved["true"])) == pytest.approx(
        metrics["accumulated_error"], rel=1e-5)
