"""T1 (Transform Once): its transforms against scipy and torch.fft, the same predictions at two
resolutions, fitting a tiny batch, a band-limited output, Parseval for the spectral loss, and the
config checks."""

import math

import numpy as np
import pytest
import scipy.fft
import torch

from pdekit.errors import ConfigError
from pdekit.models import MODELS, build_model
from pdekit.models.t1 import T1

F64 = torch.float64


def _scale(m: int, top: int | None = None) -> np.ndarray:
    """The coefficients' Parseval factors: 1 for k = 0 (and for ``top``, the DCT-I's last mode), else sqrt(2)."""
    s = np.full(m, math.sqrt(2.0))
    s[0] = 1.0
    if top is not None and top < m:
        s[top] = 1.0
    return s


@pytest.mark.parametrize("n, m", [(9, 9), (16, 16), (16, 5), (33, 12)])
def test_dct_is_scipys_dct_i_on_the_node_grid_and_its_inverse(n, m):
    """On x_j = j / (n - 1) the DCT is the DCT-I: scipy's dct(type=1) / (2 (n - 1)), times the Parseval
    factors; the inverse is scipy's idct of the kept modes (the others zero)."""
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(3, 1, n, dtype=F64, generator=gen)
    model = T1(ndim=1, grid="nodes", modes=m, transform="dct")
    c = model.spectrum(u)
    scale = _scale(n, top=n - 1)
    expected = scipy.fft.dct(u.numpy(), type=1, axis=-1) / (2 * (n - 1)) * scale
    assert c.shape == (3, 1, m)
    np.testing.assert_allclose(c.numpy(), expected[..., :m], rtol=0, atol=1e-12)
    # a direct cosine sum with the trapezoid rule's weights, for the first coefficients
    x = np.arange(n) / (n - 1)
    weight = np.ones(n)
    weight[[0, -1]] = 0.5
    direct = [scale[k] * (weight * u.numpy()[0, 0] * np.cos(math.pi * k * x)).sum() / (n - 1) for k in range(min(m, 4))]
    np.testing.assert_allclose(c.numpy()[0, 0, : len(direct)], direct, rtol=0, atol=1e-12)
    full = np.zeros_like(expected)
    full[..., :m] = expected[..., :m] / scale[:m] * (2 * (n - 1))
    np.testing.assert_allclose(model.field(c, (n,)).numpy(), scipy.fft.idct(full, type=1, axis=-1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("ndim, grid, transform, n, m", [
    (1, "nodes", "dct", 17, 17), (2, "nodes", "dct", 12, 12), (1, "periodic", "dct", 16, 17),
    (2, "periodic", "dct", 10, 11), (1, "periodic", "dft", 15, 8), (2, "periodic", "dft", 11, 6),
    (1, "nodes", "dft", 16, 8),
])
def test_all_modes_kept_is_the_identity(ndim, grid, transform, n, m):
    """Forward then inverse with every mode of the grid kept gives the samples back (the periodic
    DCT has the n + 1 modes of its n + 1 nodes, the DFT on an odd grid its (n + 1) / 2)."""
    gen = torch.Generator().manual_seed(1)
    u = torch.randn(2, 3, *(n,) * ndim, dtype=F64, generator=gen)
    if grid == "nodes" and transform == "dft":  # one period: the value at x = 1 is that at x = 0
        u[..., -1] = u[..., 0]
    model = T1(ndim=ndim, grid=grid, modes=m, transform=transform)
    assert float((model.field(model.spectrum(u), u.shape[2:]) - u).abs().max()) < 1e-12


def test_periodic_dct_is_the_dct_i_of_the_grid_with_its_wraparound_point():
    n, m = 16, 9
    u = torch.randn(2, 1, n, dtype=F64, generator=torch.Generator().manual_seed(2))
    closed = torch.cat([u, u[..., :1]], dim=-1).numpy()  # x = 1 is x = 0 again
    expected = scipy.fft.dct(closed, type=1, axis=-1) / (2 * n) * _scale(n + 1, top=n)
    c = T1(ndim=1, grid="periodic", modes=m, transform="dct").spectrum(u)
    np.testing.assert_allclose(c.numpy(), expected[..., :m], rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [16, 17])
def test_dft_is_the_real_and_imaginary_part_of_the_rfft(n):
    """1D: cosines k = 0..m-1 then sines k = 1..m-1: Re and Im of rfft / n, times the Parseval factors."""
    m = 7
    u = torch.randn(2, 1, n, dtype=F64, generator=torch.Generator().manual_seed(3))
    c = T1(ndim=1, grid="periodic", modes=m, transform="dft").spectrum(u)
    r = torch.fft.rfft(u) / n
    scale = torch.from_numpy(_scale(m))
    assert c.shape == (2, 1, 2 * m - 1)
    assert float((c[..., :m] - scale * r.real[..., :m]).abs().max()) < 1e-12
    assert float((c[..., m:] - scale[1:] * r.imag[..., 1:m]).abs().max()) < 1e-12


@pytest.mark.parametrize("n1, n2, m", [(16, 16, 5), (12, 15, 6), (9, 20, 4), (8, 10, 6), (16, 9, 8)])
def test_dft_round_trip_is_the_fft_low_pass_filter(n1, n2, m):
    """2D: field(spectrum(u)) keeps exactly the modes |k| < m of the 2D FFT on each axis (those of
    an rfft along the last axis and an fft along the first) and zeroes the others; a grid too coarse
    for them keeps those strictly below its Nyquist frequency (|k| < n / 2)."""
    u = torch.randn(2, 1, n1, n2, dtype=F64, generator=torch.Generator().manual_seed(4))
    model = T1(ndim=2, grid="periodic", modes=m, transform="dft")
    u_hat = torch.fft.fft2(u)
    kx, ky = torch.fft.fftfreq(n1, 1 / n1), torch.fft.fftfreq(n2, 1 / n2)
    keep = (kx.abs()[:, None] < min(m, n1 / 2)) & (ky.abs()[None, :] < min(m, n2 / 2))
    expected = torch.fft.ifft2(u_hat * keep).real
    assert float((model.field(model.spectrum(u), (n1, n2)) - expected).abs().max()) < 1e-12


def _cosines(n, ndim, nodes):
    """A field of a few cosine modes cos(pi k x), on j / (n - 1) (nodes) or j / n (periodic: even k only)."""
    grid = torch.linspace(0, 1, n, dtype=F64) if nodes else torch.arange(n, dtype=F64) / n
    axes = torch.meshgrid(*[grid] * ndim, indexing="ij")
    k1, k2 = (1, 3) if nodes else (2, 4)
    u = torch.cos(math.pi * k1 * axes[0]) + 0.5 * torch.cos(math.pi * k2 * axes[-1]) * torch.cos(math.pi * 2 * axes[0])
    return (u + 0.3)[None, None]


def _fourier(n, ndim):
    """A few low Fourier modes on the periodic grid j / n (as tests/test_models.py's _band_limited)."""
    axes = torch.meshgrid(*[torch.arange(n, dtype=F64) / n] * ndim, indexing="ij")
    u = torch.sin(2 * math.pi * axes[0]) + 0.5 * torch.cos(2 * math.pi * (2 * axes[-1] + axes[0])) + 0.3
    return u[None, None]


# measured max |fine - coarse| / max |coarse|: dft 1D 1.8e-16, 2D 4.0e-16; dct nodes 1D 2.0e-16,
# 2D 4.3e-16; dct periodic 1D 2.0e-16, 2D 3.5e-16
@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("transform, grid, sizes", [
    ("dft", "periodic", (64, 128)), ("dct", "nodes", (65, 129)), ("dct", "periodic", (64, 128)),
])
def test_t1_predicts_the_same_values_at_two_resolutions(ndim, transform, grid, sizes):
    """A field within the kept modes has the same normalized coefficients at every resolution, and
    the output is evaluated at the data's own points: the shared points (every second fine one)
    get the same prediction to rounding. The DCT-I is exact on the node grid j / (n - 1), whose
    even extension about the two end points is periodic; 65 and 129 nodes share every second."""
    torch.manual_seed(0)
    model = T1(1, 1, ndim, grid, transform=transform).double().eval()
    assert model.resolution_invariant and MODELS["t1"] is T1
    make = (lambda n: _fourier(n, ndim)) if transform == "dft" else (lambda n: _cosines(n, ndim, grid == "nodes"))
    with torch.no_grad():
        coarse, fine = model(make(sizes[0])), model(make(sizes[1]))
    shared = fine[(Ellipsis, *[slice(None, None, 2)] * ndim)]
    assert float(coarse.std()) > 0.1 * float(coarse.abs().max())  # not a constant (measured 0.27 to 0.41)
    assert float((shared - coarse).abs().max()) < 1e-13 * float(coarse.abs().max())


@pytest.mark.parametrize("ndim, space, modes", [(1, (33,), (6,)), (2, (20, 25), (5, 7))])
def test_output_of_the_dct_model_has_no_energy_beyond_the_kept_modes(ndim, space, modes):
    """scipy's DCT-I of the output (node grid) vanishes beyond the kept modes, to rounding."""
    torch.manual_seed(0)
    model = T1(2, 2, ndim, "nodes", modes=list(modes), hidden_channels=8, n_layers=2).double()
    x = torch.randn(3, 2, *space, dtype=F64)
    with torch.no_grad():
        out = model(x).numpy()
    c = scipy.fft.dctn(out, type=1, axes=list(range(2, 2 + ndim)))
    kept = np.zeros(space, dtype=bool)
    kept[tuple(slice(0, m) for m in modes)] = True
    beyond = np.abs(c[..., ~kept]).max()
    assert np.abs(c[..., kept]).max() > 1e-3  # the kept modes do carry the output
    assert beyond < 1e-12 * np.abs(c).max(), beyond


@pytest.mark.parametrize("ndim, space, modes", [(1, (32,), (6,)), (2, (20, 25), (5, 7))])
def test_output_of_the_dft_model_has_no_energy_beyond_the_kept_modes(ndim, space, modes):
    torch.manual_seed(0)
    model = T1(1, 1, ndim, "periodic", modes=list(modes), hidden_channels=8, n_layers=2).double()
    with torch.no_grad():
        out = model(torch.randn(3, 1, *space, dtype=F64))
    spectrum = torch.fft.fftn(out, dim=tuple(range(2, 2 + ndim))).abs()
    freqs = [torch.fft.fftfreq(n, 1 / n).abs() for n in space]
    kept = torch.ones(space, dtype=torch.bool)
    for axis, (f, m) in enumerate(zip(freqs, modes)):
        kept &= (f < m).view([-1 if a == axis else 1 for a in range(ndim)])
    assert float(spectrum[..., kept].max()) > 1e-3
    assert float(spectrum[..., ~kept].max()) < 1e-12 * float(spectrum.max())


@pytest.mark.parametrize("grid, transform", [("periodic", "dft"), ("periodic", "dct"), ("nodes", "dct")])
def test_spectral_relative_l2_is_the_spatial_one_of_the_band_limited_projection(grid, transform):
    """Parseval, as the docstring states for the spectral loss: the plain mean on the periodic grid
    (DFT), the trapezoid rule (half weights at the boundary points) on the node grid and, for the
    DCT of periodic data, on the periodic grid closed by x = 1 (25 nodes j / 24 for 24 points)."""
    model = T1(1, 1, 2, grid, modes=5, transform=transform)
    gen = torch.Generator().manual_seed(5)
    u, v = torch.randn(2, 2, 1, 24, 24, dtype=F64, generator=gen)
    su, sv = model.spectrum(u), model.spectrum(v)
    closed = transform == "dct" and grid == "periodic"
    n = 25 if closed else 24
    on = T1(1, 1, 2, "nodes", modes=5) if closed else model  # the closed grid is a node grid
    pu, pv = on.field(su, (n, n)), on.field(sv, (n, n))
    w = torch.ones(n, dtype=F64)
    if transform == "dct":
        w[[0, -1]] = 0.5
    weight = w[:, None] * w[None, :]
    mean_square = lambda f: (weight * f**2).sum((-2, -1)) / weight.sum()  # noqa: E731
    torch.testing.assert_close(su.pow(2).sum((-2, -1)), mean_square(pu), rtol=1e-12, atol=0)
    spectral = (su - sv).flatten(1).norm(dim=1) / su.flatten(1).norm(dim=1)
    spatial = mean_square(pu - pv).sqrt() / mean_square(pu).sqrt()
    torch.testing.assert_close(spectral, spatial.flatten(), rtol=1e-12, atol=0)


def test_separable_mode_mixing_is_the_kronecker_product_of_its_axis_maps():
    torch.manual_seed(0)
    sep = T1(1, 2, 2, "nodes", modes=[4, 5], hidden_channels=6, n_layers=2, mode_mixing="separable").double()
    dense = T1(1, 2, 2, "nodes", modes=[4, 5], hidden_channels=6, n_layers=2).double()
    with torch.no_grad():
        for name, p in dense.named_parameters():
            if not name.startswith("mode_weights"):
                p.copy_(sep.get_parameter(name))
        for i in range(2):
            dense.mode_weights[i].copy_(torch.kron(sep.mode_weights[2 * i], sep.mode_weights[2 * i + 1]))
        x = torch.randn(3, 1, 11, 13, dtype=F64)
        torch.testing.assert_close(sep(x), dense(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ndim, grid", [(1, "nodes"), (2, "nodes"), (1, "periodic"), (2, "periodic")])
def test_any_resolution_gives_the_input_shape_and_default_size_beats_the_fno(ndim, grid):
    """Grids coarser than the kept modes drop the modes they cannot hold; the default model on
    Darcy (85 x 85 nodes, 1 -> 1) has fewer weights than the darcy_fno recipe's FNO."""
    from pdekit.models.registry import count_parameters

    model = build_model({"name": "t1", "hidden_channels": 8, "n_layers": 2}, 2, 3, ndim, grid=grid)
    assert model.transform == ("dct" if grid == "nodes" else "dft")
    for n in (5, 8, 17, 40):
        x = torch.randn(2, 2, *(n,) * ndim)
        assert model(x).shape == (2, 3, *(n,) * ndim)
    if ndim == 2 and grid == "nodes":
        fno = build_model({"name": "fno", "modes": 12, "hidden_channels": 32, "padding": 0.1}, 1, 1, 2)
        t1 = build_model({"name": "t1"}, 1, 1, 2)
        assert count_parameters(t1) == 1_368_320 < count_parameters(fno) == 2_372_513


@pytest.mark.parametrize("config, fragment", [
    ({"ndim": 3}, "1 or 2 spatial dimensions"),
    ({"modes": 0}, r"modes \(model.modes in a recipe\) must be a positive int|model.modes of t1 must be an integer >= 1"),
    ({"modes": [8, 8, 8]}, r"modes \(model.modes in a recipe\)"),
    ({"transform": "fft"}, "unknown transform 'fft' \\(model.transform\\)"),
    ({"mode_mixing": "full"}, "unknown mode_mixing"),
    ({"hidden_channels": 0}, "hidden_channels and n_layers must be positive|model.hidden_channels of t1 must be an int"),
    ({"activation_fn": "swish"}, "unknown activation_fn"),
    ({"grid": "cells"}, "grid must be 'nodes' or 'periodic'"),
])
def test_bad_t1_config_is_refused(config, fragment):
    with pytest.raises(ConfigError, match=fragment):
        T1(**{"ndim": 2, **config})
    data = {k: config.pop(k) for k in ("ndim", "grid") if k in config}
    with pytest.raises(ConfigError, match=fragment):
        build_model({"name": "t1", **config}, 1, 1, data.get("ndim", 2), grid=data.get("grid", "nodes"))


def test_a_grid_of_one_point_is_refused():
    with pytest.raises(ConfigError, match="at least 2 points per axis"):
        T1(ndim=1)(torch.zeros(1, 1, 1))


@pytest.mark.parametrize("grid, transform, n, m, held", [("periodic", "dft", 16, 9, 8), ("nodes", "dct", 16, 17, 16),
                                                         ("nodes", "dft", 17, 9, 8), ("periodic", "dft", 16, 8, 8)])
def test_training_on_a_grid_too_coarse_for_the_modes_warns(grid, transform, n, m, held):
    """The modes a grid cannot resolve have zero coefficients there: their weights get no gradient,
    stay random and act on finer grids (trained with 12 modes at 16 points: 0.023 there, 0.48 at
    32). The FNO warned; T1 trained on silently."""
    import warnings

    from pdekit.models.t1 import _basis

    model = T1(1, 1, 1, grid, m, transform=transform)
    forward, _ = _basis(n, m, transform, grid == "periodic", torch.device("cpu"), torch.float64)
    resolved = int((forward.abs().sum(0) > 0).sum())  # the coefficients this grid gives
    assert model.held_modes((n,)) == [held] and resolved == (held if transform == "dct" else 2 * held - 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):  # (once)
            model(torch.randn(2, 1, n)).sum().backward()
        model.eval()
        model(torch.randn(2, 1, n))
    said = [str(w.message) for w in caught if "resolves" in str(w.message)]
    assert said == ([] if held == m else [f"T1 with modes [{m}] trains on a grid of [{n}] points, which resolves "
                                          f"[{held}] of them: the lift and projection weights of the others get no "
                                          f"gradient, keep their random initial values and act on finer grids; lower "
                                          f"model.modes or train on a finer grid"])
    if held < m:  # what the message says: no gradient at the unresolved modes' lift and projection weights
        unresolved = [i for i in range(model.lift.shape[0]) if forward[:, i].abs().sum() == 0]
        assert unresolved and all(float(model.lift.grad[i].abs().max()) == 0 for i in unresolved)
        assert all(float(model.project.grad[i].abs().max()) == 0 for i in unresolved)
