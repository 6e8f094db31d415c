"""Models: the spectral layer's algebra, overfitting a tiny batch, resolution handling, the registry."""

import math

import pytest
import torch

from pdekit.errors import ConfigError
from pdekit.models import DeepONet, build_model
from pdekit.models.registry import count_parameters
from pdekit.nn import SpectralConv


def _identity_spectral(ndim, modes, channels=2):
    conv = SpectralConv(channels, channels, (modes,) * ndim)
    with torch.no_grad():
        conv.weight.zero_()
        for c in range(channels):
            conv.weight[c, c] = 1.0
    return conv


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_spectral_conv_with_identity_weights_is_a_low_pass_filter(ndim):
    n, m = 16, 3
    axes = torch.meshgrid(*[torch.arange(n) / n] * ndim, indexing="ij")
    phase = 2 * math.pi * sum(axes)
    low = torch.cos(phase) + torch.sin(2 * 2 * math.pi * axes[0] - 2 * math.pi * axes[-1])  # |k| <= 2 per axis
    high = torch.cos(5 * phase)  # k = 5 on every axis: outside the kept block
    x = torch.stack([low + high, 2 * low])[None].float()
    out = _identity_spectral(ndim, m)(x)
    torch.testing.assert_close(out[0, 0], low.float(), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[0, 1], 2 * low.float(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("factorization", ["tucker", "cp"])
def test_factorized_weights_are_smaller_and_rebuild_the_full_shape(factorization):
    dense = SpectralConv(16, 16, (8, 8))
    small = SpectralConv(16, 16, (8, 8), factorization=factorization, rank=0.1)
    assert small.full_weight().shape == dense.weight.shape
    n_dense, n_small = count_parameters(dense), count_parameters(small)
    assert 0.03 * n_dense < n_small < 0.2 * n_dense


def test_fno_parameter_count_matches_the_architecture():
    width, modes, depth, lift, proj = 8, 5, 3, 12, 10
    model = build_model({"name": "fno", "modes": modes, "width": width, "depth": depth,
                         "lifting_channels": lift, "projection_channels": proj}, 1, 1, 1)
    spectral = depth * width * width * modes * 2  # complex
    skips = depth * (width * width + width)
    lifting = (2 * lift + lift) + (lift * width + width)  # 1 input + 1 grid channel
    projection = (width * proj + proj) + (proj + 1)
    assert count_parameters(model) == spectral + skips + lifting + projection


CASES = [
    ("fno", 1, {"modes": 8, "width": 16, "depth": 2, "lifting_channels": 0, "projection_channels": 16}, 3e-3),
    ("fno", 2, {"modes": 6, "width": 12, "depth": 2, "factorization": "tucker", "rank": 0.5}, 3e-3),
    ("unet", 2, {"hidden": 8, "channel_mults": [1, 2]}, 3e-3),
    ("unet", 1, {"hidden": 8, "channel_mults": [1, 2]}, 3e-3),
    ("deeponet", 1, {"sensors": 32, "branch_layers": [64, 64], "trunk_layers": [128, 128, 128], "basis": 32}, 3e-3),
    ("resnet", 1, {"width": 16, "depth": 2}, 3e-3),
]


@pytest.mark.parametrize("name, ndim, options, lr", CASES)
def test_overfits_a_tiny_batch(name, ndim, options, lr):
    torch.manual_seed(0)
    n = 32 if ndim == 1 else 16
    axes = torch.meshgrid(*[torch.linspace(0, 1, n)] * ndim, indexing="ij")
    x = torch.stack([torch.sin(2 * math.pi * (k + 1) * axes[0]) + 0.3 * k for k in range(4)])[:, None]
    y = torch.stack([torch.cos(2 * math.pi * (k + 1) * axes[-1]) * (1 + k) for k in range(4)])[:, None]
    model = build_model({"name": name, **options}, 1, 1, ndim)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(800 if name == "deeponet" else 400):  # an MLP trunk learns high frequencies slowly
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean() / (y**2).mean()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.02, (name, float(loss.detach()))


@pytest.mark.parametrize("name, ndim", [("fno", 1), ("fno", 2), ("deeponet", 1), ("deeponet", 2)])
def test_resolution_invariant_models_follow_the_input_resolution(name, ndim):
    model = build_model({"name": name}, 2, 3, ndim)
    assert model.resolution_invariant
    for n in (16, 24, 48):
        x = torch.randn(2, 2, *(n,) * ndim)
        assert model(x).shape == (2, 3, *(n,) * ndim)


def test_fno_output_is_consistent_across_resolutions_for_smooth_input():
    torch.manual_seed(0)
    model = build_model({"name": "fno", "modes": 6, "width": 16, "use_grid": False}, 1, 1, 1).eval()
    def field(n):
        x = torch.arange(n) / n
        return (torch.sin(2 * math.pi * x) + 0.5 * torch.cos(4 * math.pi * x))[None, None]
    with torch.no_grad():
        coarse, fine = model(field(64)), model(field(256))
    assert float((fine[..., ::4] - coarse).norm() / coarse.norm()) < 0.02


def test_deeponet_point_queries_match_grid_output():
    model = DeepONet(ndim=1, sensors=16, branch_layers=[32], trunk_layers=[32], basis=8)
    x = torch.randn(3, 1, 40)
    grid_out = model(x)
    points = torch.linspace(0, 1, 40)[:, None]
    torch.testing.assert_close(model.query(x, points), grid_out.reshape(3, 1, 40))


@pytest.mark.parametrize("config, fragment", [
    ({"name": "fnoo"}, "did you mean 'fno'"),
    ({"name": "fno", "widht": 3}, "unknown key model.widht"),
    ({"name": "fno", "width": "wide"}, "model.width of fno must be an integer"),
    ({"name": "fno", "modes": [8, 8]}, "model.modes must be"),
    ({"name": "fno", "factorization": "svd"}, "unknown factorization"),
    ({"name": "fno", "in_channels": 3}, "set from the data"),
    ({"name": "unet", "use_grid": 1}, "true or false"),
])
def test_bad_model_config_is_refused(config, fragment):
    with pytest.raises(ConfigError, match=fragment):
        build_model(config, 1, 1, 1)


@pytest.mark.parametrize("ndim, modes, n", [(1, (9,), 1024), (2, (8, 9), 64), (2, (3, 4), 17), (1, (5,), 10), (2, (4, 5), 8)])
def test_dft_matmul_path_equals_the_fft_path_in_float64(ndim, modes, n):
    """Few kept modes use matrix products with DFT bases; they must give the FFT's numbers, Nyquist
    included, to float64 rounding once the layer is in float64."""
    torch.manual_seed(0)
    conv = SpectralConv(4, 5, modes).double()
    assert conv.weight.dtype == torch.complex128
    x = torch.randn(3, 4, *(n,) * ndim, dtype=torch.float64)
    kept = conv._modes(x.shape[-ndim:])
    with torch.no_grad():
        dft = conv._forward_dft(x, x.shape[-ndim:], kept)
        fft = conv._forward_fft(x, x.shape[-ndim:], kept)
    assert dft.dtype == fft.dtype == torch.float64
    assert float((dft - fft).abs().max()) < 1e-12 * float(fft.abs().max())


@pytest.mark.parametrize("ndim", [1, 2])
def test_fno_converted_to_float64_keeps_its_complex_weights(ndim):
    """Module.to(torch.float64) would drop the imaginary parts of complex weights: the converted
    model must compute what the float32 one does, to float32 rounding."""
    torch.manual_seed(0)
    model = build_model({"name": "fno", "modes": 4, "width": 8, "depth": 2}, 1, 1, ndim)
    x = torch.randn(2, 1, *(16,) * ndim)
    with torch.no_grad():
        single = model(x)
        double = model.to(torch.float64)(x.double())
    assert {p.dtype for p in model.spectral.parameters()} == {torch.complex128}
    assert double.dtype == torch.float64
    assert float((double - single).abs().max()) < 1e-5 * float(single.abs().max())


@pytest.mark.parametrize("ndim, n", [(1, 64), (2, 32), (2, 12)])
def test_fno_runs_under_bf16_autocast_with_a_float32_spectral_part(ndim, n):
    """Mixed precision (train.amp) must not reach the complex arithmetic, which has no bf16 kernels:
    under autocast the output stays close to the float32 model's (only the 1x1 layers lose bits)."""
    torch.manual_seed(0)
    model = build_model({"name": "fno", "modes": 4, "width": 16, "depth": 2}, 1, 1, ndim)
    x = torch.randn(2, 1, *(n,) * ndim)
    with torch.no_grad():
        full = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(x)
    assert mixed.shape == full.shape
    assert float((mixed.float() - full).norm() / full.norm()) < 0.05
