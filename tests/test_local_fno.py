"""The local kernels of local_fno converge under refinement: the stencil to a directional
derivative at first order, the disk integral to its exact value."""

import math

import pytest
import torch

from pdekit.errors import ConfigError
from pdekit.models import build_model
from pdekit.models.local_fno import LocalBranches, _disco_fft, disk_basis


def _field(n):
    """Two low Fourier modes on the periodic grid j / n, and the field's gradient there."""
    g = torch.arange(n, dtype=torch.float64) / n
    x, y = torch.meshgrid(g, g, indexing="ij")
    u = torch.sin(2 * math.pi * x) + 0.5 * torch.cos(2 * math.pi * (2 * y + x)) + 0.3
    ux = 2 * math.pi * torch.cos(2 * math.pi * x) - 0.5 * 2 * math.pi * torch.sin(2 * math.pi * (2 * y + x))
    uy = -0.5 * 4 * math.pi * torch.sin(2 * math.pi * (2 * y + x))
    return u[None, None], ux, uy


def test_the_differential_kernel_converges_to_a_directional_derivative_at_first_order():
    """A zero-sum stencil K over h tends to sum_j K_j (j . grad u); the stencil is not
    antisymmetric, so the error is first order (measured ratios 2.03, 2.01, 2.01)."""
    torch.manual_seed(0)
    branch = LocalBranches(1, 2, "periodic", differential=True, integral=False, radius=0.1, rings=3).double()
    stencil = branch.diff.detach()[0, 0] - branch.diff.detach()[0, 0].mean()
    offsets = torch.arange(-1, 2, dtype=torch.float64)
    cx, cy = float((stencil * offsets[:, None]).sum()), float((stencil * offsets[None, :]).sum())
    errors = []
    for n in (32, 64, 128, 256):
        u, ux, uy = _field(n)
        with torch.no_grad():
            out = branch(u, (1 / n, 1 / n))[0, 0]
        errors.append(float((out - (cx * ux + cy * uy)).abs().max()))
    ratios = [a / b for a, b in zip(errors, errors[1:])]
    assert all(1.9 < r < 2.15 for r in ratios), (errors, ratios)


def test_the_disk_basis_integrates_to_its_exact_values():
    """The centre hat 1 - 3 rho (rings = 3) averages to 1/27 over the disk; the odd functions
    to 0 (measured error 9e-6 at 256 points, 1e-6 at 1024)."""
    n = 256
    half = int(0.1 * n)
    sums = disk_basis((half, half), (1 / n, 1 / n), 0.1, 3, torch.device("cpu"), torch.float64).sum(dim=(1, 2))
    assert abs(float(sums[0]) - 1 / 27) < 3e-5
    assert abs(float(sums[1]) - 2 / 9) < 3e-4  # ring at 1/3: (1/3) * 2 / 3 over the disk
    assert float(sums[[2, 3, 5, 6]].abs().max()) < 1e-12


def test_the_ball_basis_integrates_to_its_exact_values():
    """In 3D the centre hat 1 - 3 rho averages to 1/108 over the ball, the ring at 1/3 to 7/54,
    and the odd factors d_k / |d| to 0 (measured errors 5e-5 and 5e-4 at 64 points per axis)."""
    n = 64
    half = int(0.1 * n)
    sums = disk_basis((half,) * 3, (1 / n,) * 3, 0.1, 3, torch.device("cpu"), torch.float64).sum(dim=(1, 2, 3))
    assert len(sums) == 1 + 4 * 2
    assert abs(float(sums[0]) - 1 / 108) < 1e-4 and abs(float(sums[1]) - 7 / 54) < 1e-3
    assert float(sums[[2, 3, 4, 6, 7, 8]].abs().max()) < 1e-12
    # the odd factors are the unit vector's components: the ring's x-factor against x / radius
    # averages to 1/54 (cos^2 over the sphere: 1/3), against y and z to 0 (measured 0.01842)
    basis = disk_basis((half,) * 3, (1 / n,) * 3, 0.1, 3, torch.device("cpu"), torch.float64)
    axis = torch.arange(-half, half + 1, dtype=torch.float64) / n
    d = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij")) / 0.1
    moments = torch.stack([(basis[2 + j] * d).flatten(1).sum(1) for j in range(3)])  # (factor, axis)
    assert torch.allclose(moments, torch.eye(3, dtype=torch.float64) / 54, atol=2e-4), moments


def test_local_fno_in_3d_gives_converging_outputs_at_two_resolutions():
    """The integral-only model in 3D (it refused 3D): the same smooth input at 16 and 32 points per
    axis gives outputs that agree where the grids share points (measured 4.6e-4 relative; 9e-5
    from 32 to 64)."""
    torch.manual_seed(0)
    model = build_model({"name": "local_fno", "use_grid": False, "modes": 4, "hidden_channels": 6, "n_layers": 2,
                         "lifting_channels": 8, "projection_channels": 8, "local_radius": 0.15,
                         "differential": False}, 1, 1, 3, "periodic").double().eval()

    def field(n):
        g = torch.arange(n, dtype=torch.float64) / n
        x, y, z = torch.meshgrid(g, g, g, indexing="ij")
        return (torch.sin(2 * math.pi * x) * torch.cos(2 * math.pi * y) + 0.5 * torch.sin(2 * math.pi * z))[None, None]

    with torch.no_grad():
        coarse, fine = model(field(16)), model(field(32))
    gap = float((fine[..., ::2, ::2, ::2] - coarse).abs().max() / coarse.abs().max())
    assert coarse.shape == (1, 1, 16, 16, 16) and gap < 1e-3, gap


@pytest.mark.parametrize("kw, tol", [({"differential": False}, 1e-3), ({}, 6e-3)])
def test_local_fno_gives_converging_outputs_at_two_resolutions(kw, tol):
    """The same band-limited input at 128 and 256 points: the integral-only model agrees to 2e-4
    (relative to the output's size; quadrature of the kinked basis); with the stencil to 2.7e-3,
    first-order convergence (0.038, 0.0062, 0.0027 at 32/64, 64/128, 128/256)."""
    torch.manual_seed(0)
    model = build_model({"name": "local_fno", "use_grid": False, "modes": 8, "hidden_channels": 16,
                         "local_radius": 0.1, **kw}, 1, 1, 2, "periodic").double().eval()
    with torch.no_grad():
        outs = {n: model(_field(n)[0]) for n in (32, 64, 128, 256)}
    gaps = [float((outs[2 * n][..., ::2, ::2] - outs[n]).abs().max() / outs[n].abs().max()) for n in (32, 64, 128)]
    assert gaps[-1] < tol and gaps[-1] < 0.4 * gaps[0], gaps


def test_the_fft_path_of_the_integral_equals_the_direct_convolution():
    """Radius 0.1 at 64 points is a 13 x 13 kernel (FFT path); the same kernel by conv2d."""
    torch.manual_seed(0)
    branch = LocalBranches(3, 2, "nodes", differential=False, integral=True, radius=0.1, rings=3).double()
    x = torch.randn(2, 3, 64, 40, dtype=torch.float64)
    half = (6, 6)
    basis = disk_basis(half, (1 / 63, 1 / 63), 0.1, 3, x.device, x.dtype)
    kernel = torch.einsum("oif,f...->oi...", branch.integral.detach(), basis)
    direct = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (6, 6, 6, 6)), kernel)
    with torch.no_grad():
        fast = branch(x, (1 / 63, 1 / 63))
    assert float((fast - direct).abs().max()) < 1e-12 * float(direct.abs().max())


@pytest.mark.parametrize("shape, half", [((2, 3, 11, 10), (2, 3)), ((2, 3, 17), (4,)), ((1, 2, 9, 12), (1, 2)),
                                         ((1, 2, 9, 8, 7), (2, 1, 3))])
def test_the_fft_path_has_the_gradients_of_the_direct_convolution(shape, half):
    """The written-out backward (Parseval for the weight) against autograd through conv, in 1D, 2D
    and 3D, odd and even FFT lengths."""
    torch.manual_seed(0)
    basis = disk_basis(half, (0.05,) * len(half), 0.15, 3, torch.device("cpu"), torch.float64)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, shape[1], basis.shape[0], dtype=torch.float64, requires_grad=True)
    fast = _disco_fft(x, weight, basis)
    conv = (torch.nn.functional.conv1d, torch.nn.functional.conv2d, torch.nn.functional.conv3d)[len(half) - 1]
    direct = conv(x, torch.einsum("oif,f...->oi...", weight, basis))
    grad = torch.randn_like(direct)
    for a, b in zip(torch.autograd.grad(fast, (x, weight), grad), torch.autograd.grad(direct, (x, weight), grad)):
        assert float((a - b).abs().max()) < 1e-12 * float(b.abs().max())


def test_local_fno_in_1d_and_with_padding_keeps_the_shape():
    model = build_model({"name": "local_fno", "modes": 6, "hidden_channels": 8, "padding": 0.1}, 2, 3, 1)
    assert model(torch.randn(2, 2, 50)).shape == (2, 3, 50)
    model = build_model({"name": "local_fno", "modes": 6, "hidden_channels": 8, "padding": 0.1}, 1, 1, 2)
    assert model(torch.randn(2, 1, 29, 29)).shape == (2, 1, 29, 29)


@pytest.mark.parametrize("options, fragment", [
    ({"differential": False, "local_integral": False}, "enable differential or local_integral"),
    ({"local_radius": 0.6}, "local_radius must lie in"),
    ({"rings": 1}, "rings must be 2 or more"),
])
def test_bad_local_fno_configs_are_refused(options, fragment):
    with pytest.raises(ConfigError, match=fragment):
        build_model({"name": "local_fno", **options}, 1, 1)


def test_stacked_stencils_make_the_model_depend_on_the_resolution():
    """With the coordinate channel on a periodic grid, each layer's stencil differentiates the earlier
    layers' wrap-around: outputs at n and 2n drift apart as n grows (measured 5e-3 at 32, 0.5 at
    256), so a local_fno with the differential kernel says it is not resolution-invariant (and
    `pdekit eval` refuses data at another resolution); with the integral kernel alone it is."""
    torch.manual_seed(0)
    model = build_model({"name": "local_fno", "modes": 8, "hidden_channels": 16, "lifting_channels": 32,
                         "projection_channels": 32, "n_layers": 3, "local_integral": False}, 1, 1, 1,
                        "periodic").double().eval()

    def field(n):
        x = torch.arange(n, dtype=torch.float64) / n
        return (torch.sin(2 * math.pi * x) + 0.5 * torch.cos(4 * math.pi * x)).view(1, 1, n)

    with torch.no_grad():
        gaps = [float((model(field(2 * n))[..., ::2] - model(field(n))).norm() / model(field(n)).norm())
                for n in (32, 256)]
    assert gaps[1] > 10 * gaps[0], gaps
    assert not model.resolution_invariant
    assert build_model({"name": "local_fno", "differential": False}, 1, 1, 1).resolution_invariant
