"""Training losses: the relative Sobolev H^s loss in Fourier space."""

import math

import pytest
import torch

from pdekit.errors import ConfigError
from pdekit.train.losses import relative_h1_loss, relative_l2_loss, relative_sobolev_loss


def test_sobolev_loss_at_s_0_is_the_relative_l2():
    torch.manual_seed(0)
    a, b = torch.randn(3, 2, 16, 12, dtype=torch.float64), torch.randn(3, 2, 16, 12, dtype=torch.float64)
    assert float(relative_sobolev_loss(a, b, 0.0) - relative_l2_loss(a, b)) == pytest.approx(0, abs=1e-14)


@pytest.mark.parametrize("s", [1.0, -1.0, 0.5])
def test_sobolev_loss_weighs_a_mode_by_its_wavenumber(s):
    """Truth sin(2 pi x), error 0.1 sin(16 pi x): the loss is 0.1 ((1 + 4 pi^2 64) / (1 + 4 pi^2))^(s/2),
    0.790 at s = 1 and 0.0127 at s = -1 (the negative norm forgives small scales)."""
    x = torch.arange(64, dtype=torch.float64) / 64
    true = torch.sin(2 * math.pi * x)[None, None]
    pred = true + 0.1 * torch.sin(2 * math.pi * 8 * x)[None, None]
    expected = 0.1 * ((1 + 4 * math.pi**2 * 64) / (1 + 4 * math.pi**2)) ** (s / 2)
    assert float(relative_sobolev_loss(pred, true, s)) == pytest.approx(expected, rel=1e-12)


def test_the_h1_loss_weighs_the_error_by_its_gradient():
    """Truth sin(2 pi x), error 0.01 sin(8 pi x) on 256 periodic points: central differences give
    each mode k the derivative sin(2 pi k h) / h (h = 1 / 256), so the loss is exactly
    0.01 sqrt((1 + (sin(8 pi h) / h)^2) / (1 + (sin(2 pi h) / h)^2)) = 0.039466 (0.03953 for exact
    derivatives); on nodes the ends are one-sided: off by 2e-3. In 2D the y-derivative counts too."""
    n = 256
    x = torch.arange(n, dtype=torch.float64) / n
    true = torch.sin(2 * math.pi * x)[None, None]
    pred = true + 0.01 * torch.sin(8 * math.pi * x)[None, None]
    d1, d4 = math.sin(2 * math.pi / n) * n, math.sin(8 * math.pi / n) * n
    expected = 0.01 * math.sqrt((1 + d4**2) / (1 + d1**2))
    assert float(relative_h1_loss(pred, true, grid="periodic")) == pytest.approx(expected, rel=1e-12)
    assert float(relative_h1_loss(pred, true, grid="nodes")) == pytest.approx(expected, rel=5e-3)
    flat = torch.ones(1, 1, 64, 64, dtype=torch.float64)
    y = (torch.arange(64, dtype=torch.float64) / 64)[None, :]
    bumped = flat + 0.01 * torch.sin(2 * math.pi * 4 * y).expand(64, 64)[None, None]  # varies along y only
    assert float(relative_h1_loss(bumped, flat, grid="periodic")) > 10 * float(relative_l2_loss(bumped, flat))


def test_the_h1_loss_differences_on_nodes_span_the_unit_domain():
    """On n nodes spanning [0, 1] (spacing 1 / (n - 1)) a linear error e = x has |grad e| = 1
    everywhere: loss^2 = (sum x^2 + n) / (sum 1^2 + 0) against a constant truth 1."""
    n = 33
    x = torch.linspace(0, 1, n, dtype=torch.float64)[None, None]
    expected = math.sqrt((float((x**2).sum()) + n) / n)
    assert float(relative_h1_loss(1 + x, torch.ones_like(x), grid="nodes")) == pytest.approx(expected, rel=1e-12)


def test_fit_trains_with_the_sobolev_loss():
    """A per-mode filter learns heat_1d's operator under H^-1 and H^1 losses alike (the optimum is
    the same exact filter); an unknown loss is refused."""
    from pdekit.data.generate import draw_inputs
    from pdekit.eval.metrics import relative_l2
    from pdekit.problems import get_problem
    from pdekit.train import fit
    from test_fit import SpectralFilter

    problem = get_problem("heat_1d").from_params(32, {"nu": 0.01, "nt": 2})
    u = problem.solve(draw_inputs(problem, 0, range(70)))["u"].float()
    train, val = (u[:60, :1], u[:60, 1:]), (u[60:, :1], u[60:, 1:])
    for s in (-1.0, 1.0):
        trained = fit(SpectralFilter(17), train, val, quiet=True, epochs=60, batch_size=10, lr=0.05, weight_decay=0.0,
                      loss="sobolev", sobolev_s=s)
        assert float(relative_l2(trained.predict(val[0]), val[1]).mean()) < 1e-3
    with pytest.raises(ConfigError, match="loss"):
        fit(SpectralFilter(17), train, val, quiet=True, epochs=1, loss="h2")


def test_fit_reads_only_a_grid_it_knows_from_the_model():
    """fit takes a pdekit model's grid for the h1 loss; a user's module whose attribute `grid` is
    something else (a coordinate buffer) trains on nodes, as before (it was refused)."""
    from pdekit.train import fit

    class WithCoordinates(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("grid", torch.linspace(0, 1, 16))
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, x):
            return self.scale * x + self.grid

    torch.manual_seed(0)
    x = torch.randn(12, 1, 16)
    y = 2 * x + torch.linspace(0, 1, 16)
    trained = fit(WithCoordinates(), (x[:8], y[:8]), (x[8:], y[8:]), quiet=True, epochs=2, loss="h1")
    assert len(trained.history) == 2
