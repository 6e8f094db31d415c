"""MgNO (multigrid neural operator): shapes on odd and even grids, boundary handling by padding,
the V-cycle's multigrid structure, config checks (overfitting: tests/test_models.py)."""


import pytest
import torch

from pdekit.errors import ConfigError
from pdekit.models import build_model
from pdekit.models.mgno import MgNO, VCycle, _fold
from pdekit.models.registry import count_parameters


@pytest.mark.parametrize("grid", ["nodes", "periodic"])
@pytest.mark.parametrize("ndim, n, levels_used", [
    (2, 29, 4), (2, 85, 4), (2, 32, 4), (2, 64, 4), (2, 5, 2), (2, 3, 1), (2, 2, 1),
    (1, 100, 4), (1, 129, 4), (1, 7, 3),
])
def test_output_has_the_input_grid_on_odd_and_even_sizes(grid, ndim, n, levels_used):
    """Odd sizes go n -> ceil(n / 2) and back to exactly n; a grid too small for 4 levels uses fewer."""
    torch.manual_seed(0)
    model = build_model({"name": "mgno", "hidden_channels": 4, "n_layers": 2}, 2, 3, ndim, grid=grid)
    x = torch.randn(2, 2, *(n,) * ndim)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 3, *(n,) * ndim)
    assert torch.isfinite(out).all()
    assert model.levels_for(x.shape[2:]) == levels_used


def _shift_gap(model, x, shift):
    dims = tuple(range(2, x.dim()))
    with torch.no_grad():
        return float((model(torch.roll(x, shift, dims)) - torch.roll(model(x), shift, dims)).abs().max())


@pytest.mark.parametrize("ndim, n", [(1, 64), (2, 32)])
def test_periodic_model_commutes_with_shifts_by_the_coarsest_stride_and_nodes_model_does_not(ndim, n):
    """Circular padding everywhere (the prolongation's wrap-around included): the periodic model
    commutes with circular shifts by multiples of 2^(levels - 1) = 8 cells, to float64 rounding
    (measured 0 in 1D, 4e-16 in 2D). A shift by one cell moves the coarse points off the fine even
    points, so it does not commute (measured gap 1.2); neither does the zero-padded "nodes" model,
    whose boundaries are walls (measured gaps 0.3 to 1.8)."""
    x = torch.randn(2, 1, *(n,) * ndim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    shifts = [(8,) * ndim, (-16, 24)[:ndim]]
    torch.manual_seed(0)
    periodic = build_model({"name": "mgno", "hidden_channels": 4, "n_layers": 2}, 1, 1, ndim,
                           grid="periodic").double()
    assert periodic.levels_for(x.shape[2:]) == 4
    for shift in shifts:
        assert _shift_gap(periodic, x, shift) < 1e-12
    assert _shift_gap(periodic, x, (1,) * ndim) > 0.1
    torch.manual_seed(0)
    nodes = build_model({"name": "mgno", "hidden_channels": 4, "n_layers": 2}, 1, 1, ndim, grid="nodes").double()
    for shift in shifts:
        assert _shift_gap(nodes, x, shift) > 0.05


@pytest.mark.parametrize("ndim", [1, 2])
def test_zero_padding_on_nodes_and_wrap_around_on_periodic_grids(ndim):
    """One level, two layers of one 3-point smoothing each: an output point sees its neighbours up
    to 2 cells away. Changing the input on the last row: on a "nodes" grid (zero padding, no
    wrap-around) the first two rows keep their values bit for bit; on a "periodic" grid the first
    row is its neighbour and changes."""
    n = 12
    x = torch.randn(1, 1, *(n,) * ndim, generator=torch.Generator().manual_seed(0))
    bumped = x.clone()
    bumped[:, :, -1] += 1.0
    changes = {}
    for grid in ("nodes", "periodic"):
        torch.manual_seed(0)
        model = MgNO(1, 1, ndim, grid, hidden_channels=4, n_layers=2, levels=1)
        with torch.no_grad():
            changes[grid] = (model(bumped) - model(x)).abs()
        assert float(changes[grid][:, :, 2:n - 3].max()) == 0.0, grid  # out of reach either way
        assert float(changes[grid][:, :, -1].max()) > 1e-4, grid
    assert float(changes["nodes"][:, :, :2].max()) == 0.0
    assert float(changes["periodic"][:, :, 0].min()) > 1e-6


@pytest.mark.parametrize("grid", ["nodes", "periodic"])
@pytest.mark.parametrize("ndim, n", [(1, 7), (1, 8), (1, 29), (2, 9), (2, 12), (2, 29)])
def test_prolongation_is_the_adjoint_of_the_restriction(grid, ndim, n):
    """With one kernel, the transposed convolution (prolongation, fine points rebuilt from the
    coarse grid, wrapped around on a periodic one) is exactly the transpose of the stride-2
    restriction: <R x, y> = <x, P y> for every x, y, on odd and even sizes (measured 1e-15)."""
    torch.manual_seed(0)
    cycle = VCycle(ndim, 3, 3, [1, 1], [0, 0], grid == "periodic").double()
    with torch.no_grad():
        cycle.prolong[0].weight.copy_(cycle.restrict[0].weight)
        x = torch.randn(2, 3, *(n,) * ndim, dtype=torch.float64)
        restricted = cycle.restrict[0](x)
        assert restricted.shape[2:] == ((n + 1) // 2,) * ndim
        y = torch.randn_like(restricted)
        prolongated = cycle.prolong[0](y)
        for axis in range(2, 2 + ndim):
            prolongated = _fold(prolongated, axis, n, grid == "periodic")
        assert prolongated.shape == x.shape
        lhs, rhs = float((restricted * y).sum()), float((x * prolongated).sum())
    assert abs(lhs - rhs) < 1e-12 * max(1.0, abs(lhs))


def _classical_multigrid(ndim, pre, post):
    """A periodic one-channel V-cycle set to the textbook multigrid for the Laplacian (h = 1 on the
    finest grid): A_j the 3-point (5-point) stencil over (2^j h)^2, damped Jacobi smoothers
    (omega = 2/3), full-weighting restriction, linear-interpolation prolongation."""
    cycle = VCycle(ndim, 1, 1, pre, post, periodic=True).double()
    line = torch.tensor([-1.0, 2.0, -1.0], dtype=torch.float64)
    weighting = torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64)
    if ndim == 1:
        stencil, restrict = line, weighting
    else:
        stencil = torch.zeros(3, 3, dtype=torch.float64)
        stencil[1] += line
        stencil[:, 1] += line
        restrict = torch.outer(weighting, weighting)
    centre = (1,) * ndim
    with torch.no_grad():
        for j in range(len(pre)):
            scale = 4.0 ** -j
            if str(j) in cycle.A:
                cycle.A[str(j)].weight.copy_(stencil[None, None] * scale)
            jacobi = torch.zeros_like(stencil)
            jacobi[centre] = (2 / 3) / (stencil[centre] * scale)
            for smoother in [*cycle.S_pre[j], *(cycle.S_post[j] if j < len(pre) - 1 else [])]:
                smoother.weight.copy_(jacobi[None, None])
            if j < len(pre) - 1:
                cycle.restrict[j].weight.copy_(restrict[None, None])
                cycle.prolong[j].weight.copy_(restrict[None, None] * 2**ndim)  # linear interpolation
    return cycle


@pytest.mark.parametrize("ndim, sizes, rate", [(1, ((64, 4), (128, 5)), 0.1), (2, ((32, 3), (64, 4)), 0.25)])
def test_v_cycle_with_textbook_weights_is_a_multigrid_solver(ndim, sizes, rate):
    """The V-cycle's structure (smooth, restrict the residual, recurse, prolongate and add the
    correction, smooth) is multigrid's: with textbook weights, iterating u <- u + V(f - A u) on the
    periodic Poisson problem (coarsest grid 8 points per side) cuts the residual by the same factor
    per cycle on a grid twice as fine (measured at most 0.081 and 0.083 in 1D, 0.200 and 0.201 in
    2D), where the smoother alone stalls (measured 0.88 to 0.96 for the sixth sweep of 4 steps, the
    residual still 0.10 to 0.21 of the start)."""
    for n, levels in sizes:
        f = torch.randn(1, 1, *(n,) * ndim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        f = f - f.mean()  # in the periodic Laplacian's range
        for pre in ([2] * (levels - 1) + [20], [4]):
            cycle = _classical_multigrid(ndim, pre, [2] * len(pre))
            A = cycle.A["0"]  # the finest operator, for the residual
            u, residual, rates = torch.zeros_like(f), f, []
            with torch.no_grad():
                for _ in range(6):
                    u = u + cycle(residual)
                    new = f - A(u)
                    rates.append(float(new.norm() / residual.norm()))
                    residual = new
            reduction = float(residual.norm() / f.norm())
            if len(pre) > 1:
                assert max(rates) < rate and reduction < rate**6, (n, rates)
            else:
                assert rates[-1] > 0.85 and reduction > 0.05, (n, rates)


def test_parameter_count_matches_the_v_cycles():
    """Per layer (f channels c_f, u channels c, k = 3^ndim taps): an A_j (c -> c_f) on every level
    but the coarsest, where it only appears with two smoothing steps or more; one S (c_f -> c) per
    smoothing step; a restriction (c_f -> c_f) and a prolongation (c -> c) between levels; a bias
    per channel; then the 1 x 1 projection. Every parameter is used on a grid deep enough."""
    cin, cout, c, layers = 2, 3, 4, 2
    configs = [([1, 2, 2], [1, 0, 5], 3),  # two steps on the coarsest level: A_2 (its postsmoothing unused)
               ([2, 1, 1], [0, 1, 0], 2)]  # one step on the coarsest level (u = S f): no A_2
    for ndim in (1, 2):
        k = 3**ndim
        for pre, post, n_operators in configs:
            model = build_model({"name": "mgno", "hidden_channels": c, "n_layers": layers, "levels": 3,
                                 "smoothing": pre, "post_smoothing": post}, cin, cout, ndim)
            expected = 0
            for cf in (cin, c):
                expected += n_operators * c * cf * k  # the A_j
                expected += (sum(pre) + post[0] + post[1]) * cf * c * k  # smoothers
                expected += 2 * (cf * cf + c * c) * k  # restrictions and prolongations
                expected += c  # bias
            expected += c * cout + cout
            assert count_parameters(model) == expected, (ndim, pre)
            model(torch.randn(2, cin, *(16,) * ndim)).square().mean().backward()
            assert all(p.grad is not None and p.grad.abs().max() > 0 for p in model.parameters()), (ndim, pre)


@pytest.mark.parametrize("options, ndim, fragment", [
    ({}, 3, "MgNO supports 1 or 2 spatial dimensions, got ndim = 3"),
    ({"levels": 0}, 2, "model.levels of mgno must be an integer >= 1"),
    ({"hidden_channels": 0}, 2, "model.hidden_channels of mgno must be an integer >= 1"),
    ({"n_layers": 0}, 1, "model.n_layers of mgno must be an integer >= 1"),
    ({"smoothing": 0}, 2, "model.smoothing of mgno must be an integer >= 1 or a list of them"),
    ({"smoothing": [1, 2]}, 2, r"MgNO: smoothing must be .* a list of 4 such ints"),
    ({"post_smoothing": -1}, 1, "model.post_smoothing of mgno must be an integer >= 0"),
    ({"activation_fn": "swish"}, 1, "unknown activation 'swish'"),
    ({"levels": 2.5}, 1, "model.levels of mgno must be an integer"),
])
def test_bad_config_is_refused(options, ndim, fragment):
    with pytest.raises(ConfigError, match=fragment):
        build_model({"name": "mgno", **options}, 1, 1, ndim)


def test_unknown_grid_and_wrong_input_dimension_are_refused():
    with pytest.raises(ConfigError, match="grid must be 'nodes' or 'periodic'.*got 'cells'"):
        build_model({"name": "mgno"}, 1, 1, 2, grid="cells")
    with pytest.raises(ConfigError, match="with 2 spatial dimensions, got shape"):
        MgNO(ndim=2, hidden_channels=4)(torch.zeros(2, 1, 16))
