"""Neural ODEs on torchdiffeq: the block integrates a known linear field, fixed-step solvers take
their exact number of evaluations, adjoint and direct gradients agree, and `ks_node` reports NFE."""

import json

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from pdekit.errors import ConfigError
from pdekit.models import build_model
from pdekit.models.node import ODEBlock

pytest.importorskip("torchdiffeq")


def _linear(seed=0):
    torch.manual_seed(seed)
    field = nn.Linear(4, 4, bias=False).double()
    with torch.no_grad():
        field.weight.mul_(0.5)
    return field


def test_the_block_integrates_a_linear_field_exactly():
    """dz/dt = A z: z(1) = expm(A) z(0), to the adaptive solver's tolerance."""
    field = _linear()
    block = ODEBlock(field, "dopri5", rtol=1e-10, atol=1e-12)
    z0 = torch.randn(3, 4, dtype=torch.float64)
    expected = z0 @ torch.from_numpy(scipy.linalg.expm(field.weight.detach().numpy())).T
    assert float((block(z0) - expected).abs().max()) < 1e-9
    assert block.calls == 1 and block.nfe > 6


def test_fixed_step_solvers_take_their_number_of_evaluations():
    block = ODEBlock(_linear(), "rk4", step_size=0.25)
    block(torch.randn(2, 4, dtype=torch.float64))
    assert block.nfe == 16  # 4 steps of 4 stages
    block.reset()
    block(torch.randn(2, 4, dtype=torch.float64), t1=0.5)
    assert block.nfe == 8 and block.calls == 1


def test_adjoint_and_direct_gradients_agree():
    """The adjoint method (a backward ODE solve) and backpropagation through the solver's steps give
    the same parameter and input gradients of a latent ODE, to the solver's tolerance."""
    grads = []
    for adjoint in (False, True):
        torch.manual_seed(0)
        model = build_model({"name": "latent_ode", "latent": 4, "hidden": 8, "adjoint": adjoint, "rtol": 1e-10,
                             "atol": 1e-12}, 1, 1, 1).double()
        x = torch.linspace(0, 1, 16, dtype=torch.float64).sin().view(1, 1, 16).requires_grad_(True)
        model(x).pow(2).sum().backward()
        grads.append([x.grad] + [p.grad for p in model.parameters()])
    for direct, adjoint in zip(*grads):
        assert float((direct - adjoint).abs().max()) < 1e-7 * max(1.0, float(direct.abs().max()))


def test_bad_solver_settings_are_refused():
    with pytest.raises(ConfigError, match="unknown ODE solver 'rk45'"):
        build_model({"name": "latent_ode", "method": "rk45"}, 1, 1, 1)
    with pytest.raises(ConfigError, match="rtol and atol must be > 0"):
        build_model({"name": "latent_ode", "rtol": 0.0}, 1, 1, 1)


def test_pdekit_run_ks_node_reports_the_evaluations_per_step(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # the data of the ks_rollout test (cached), 20 test steps (and 200 in the stability check)
    small = ["data.n_train=8", "data.n_test=4", "train.epochs=1", "model.latent=4", "model.hidden=4",
             "rollout.test_steps=20"]
    code, out, err = run_cli("run", "ks_node", "--quick", "--quiet", "--out", "run", *small)
    assert code == 0, err
    metrics = json.loads((tmp_path / "run/metrics.json").read_text())
    assert metrics["nfe_per_step"] == 8.0 and metrics["ode_method"] == "rk4"  # 2 rk4 steps per stored step
    assert np.load(tmp_path / "run/rollout.npz")["pred"].shape == (4, 20, 1, 64)
