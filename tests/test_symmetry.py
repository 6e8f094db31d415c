"""Symmetries of static maps as augmentation (data/symmetry.py): each transformed pair is the
solver's own answer to the transformed input, and the recipes refuse what a problem does not declare."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pdekit.data.generate import sample_rng
from pdekit.data.symmetry import coordinate_change, covariance, dihedral, pair_augmentation, problem_augmentation
from pdekit.errors import ConfigError
from pdekit.problems import get_problem
from pdekit.recipes import load_recipe


STATIC = SimpleNamespace(trajectory=False, input_time=0, target_time=-1)  # a data section: u(0) -> u(T)


def _pairs(problem, n=4):
    """(x, y): n initial states and their solutions at the last stored time, (n, 1, *space) float64."""
    u0 = torch.from_numpy(np.stack([problem.sample_inputs(sample_rng(0, i))["u0"] for i in range(n)]))
    return u0[:, None], problem.solve({"u0": u0})["u"][:, -1:]


def _mismatch(problem, x, y):
    """Relative max difference between y and the solver's answer to x."""
    solved = problem.solve({"u0": x[:, 0]})["u"][:, -1:]
    return float((solved - y).abs().max() / solved.abs().max())


def test_augmentation_maps_darcy_solutions_to_solutions():
    """darcy_2d declares the square's symmetries: each of the 8 transforms of a solved pair (a, u)
    is the solver's answer for the transformed a, and the 8 are distinct."""
    p = get_problem("darcy_2d").from_params(17, {"solve_resolution": 33})
    a = torch.from_numpy(p.sample_inputs(np.random.default_rng(0))["a"])[None]
    u = p.solve({"a": a})["u"]
    seen = set()
    for k in range(8):
        ak, uk = dihedral(a, u, k)
        assert float((p.solve({"a": ak})["u"] - uk).abs().max()) < 1e-12 * float(u.abs().max())
        seen.add(ak.numpy().tobytes())
    assert len(seen) == 8 and "dihedral" in p.symmetries


# the heat equation is solved exactly in time and spectrally in space and its inputs are band-limited
# below the Nyquist mode, so each symmetry holds to rounding (measured 2e-16 .. 6e-16)
@pytest.mark.parametrize("name, resolution", [("heat_1d", 64), ("heat_2d", 16)])
def test_each_heat_symmetry_maps_solutions_to_solutions(name, resolution):
    p = get_problem(name).from_params(resolution, {"nu": 0.02, "t_final": 0.5, "nt": 3})
    x, y = _pairs(p)
    assert _mismatch(p, x, y) < 5e-15
    for symmetry in p.symmetries:
        xt, yt = pair_augmentation((symmetry,), p.ndim)(x, y, torch.Generator().manual_seed(1))
        assert float((xt - x).abs().max()) > 0.1 * float(x.abs().max()), symmetry  # it moved the input
        assert _mismatch(p, xt, yt) < 5e-15, symmetry
    # and together, in one draw
    xt, yt = problem_augmentation(p, STATIC)(x, y, torch.Generator().manual_seed(2))
    assert _mismatch(p, xt, yt) < 5e-15


def test_superposition_mixes_each_sample_with_another_at_unit_norm():
    """Each augmented pair is cos(theta) (x_i, y_i) + sin(theta) (x_j, y_j) with j != i, so that
    independent centered Gaussian inputs keep their law (a sample mixed with itself would not)."""
    augment = pair_augmentation(("superposition",), 1)
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        x = torch.randn(5, 1, 64, dtype=torch.float64)
        y = torch.randn(5, 1, 64, dtype=torch.float64)
        xt, yt = augment(x, y, generator)
        coef = torch.linalg.lstsq(x[:, 0].T, xt[:, 0].T).solution.T  # xt_i = sum_j coef_ij x_j
        assert torch.allclose(coef @ y[:, 0], yt[:, 0], atol=1e-12)  # the same mix of targets
        assert torch.equal((coef.abs() > 1e-9).sum(1), torch.full((5,), 2))
        assert torch.allclose(coef.pow(2).sum(1), torch.ones(5, dtype=torch.float64), atol=1e-12)


# Burgers: the time stepping carries the boost through the nonlinear term (measured 1.8e-9; shifts
# alone 2.6e-10, the solver's tolerance); with the boost's shift computed for a wrong elapsed time
# (0.4 instead of 0.5) the mismatch is 0.44
def test_burgers_shifted_and_boosted_pairs_are_solutions():
    p = get_problem("burgers_1d").from_params(128, {"solve_resolution": 128, "t_final": 0.5, "nt": 3, "nu": 0.02})
    x, y = _pairs(p)
    shifted = problem_augmentation(p, STATIC)(x, y, torch.Generator().manual_seed(0))
    assert _mismatch(p, *shifted) < 1e-9
    xt, yt = problem_augmentation(p, STATIC, boost=0.5)(x, y, torch.Generator().manual_seed(0))
    assert (xt.mean((1, 2)) - x.mean((1, 2))).abs().max() > 0.05  # boosted
    assert _mismatch(p, xt, yt) < 1e-8


def test_pairs_stored_coarser_than_solved_shift_by_whole_cells():
    """Burgers stored at 64 of 512 solved points: the stored start is not band-limited, so the shift
    is by whole stored cells, and the shifted pair is the solver's answer to the rolled full start."""
    p = get_problem("burgers_1d").from_params(64, {"solve_resolution": 512, "t_final": 0.5, "nt": 3, "nu": 0.02})
    u0 = torch.from_numpy(np.stack([p.sample_inputs(sample_rng(0, i))["u0"] for i in range(4)]))
    y = p.solve({"u0": u0})["u"][:, -1:]
    x = u0[:, None, ::8]
    xt, yt = problem_augmentation(p, STATIC)(x, y, torch.Generator().manual_seed(0))
    for i in range(4):
        m = [m for m in range(64) if torch.allclose(torch.roll(x[i], m, -1), xt[i], atol=1e-12)]
        assert len(m) == 1, i
        solved = p.solve({"u0": torch.roll(u0[i : i + 1], 8 * m[0], -1)})["u"][:, -1:]
        assert float((solved[0] - yt[i]).abs().max() / solved.abs().max()) < 1e-9


def _smooth_darcy_pair(n):
    """darcy_tensor_2d with a smooth full tensor K and f = 1, solved on n x n nodes."""
    p = get_problem("darcy_tensor_2d").from_params(n, {"solve_resolution": n})
    g = torch.linspace(0, 1, n, dtype=torch.float64)
    X, Y = torch.meshgrid(g, g, indexing="ij")
    k11 = 2 + torch.sin(2 * np.pi * X) * torch.cos(3 * np.pi * Y)
    k12 = 0.4 * torch.sin(np.pi * (X + Y))
    k22 = 1.5 + 0.5 * torch.cos(2 * np.pi * Y)
    x = torch.stack([k11, k12, k22, torch.ones_like(k11)])[None]
    return p, x, p.solve(dict(zip(p.inputs, x.unbind(1))))["u"][:, None]


def test_a_change_of_coordinates_maps_darcy_solutions_to_solutions():
    """General covariance: u(phi) solves the problem with det(J) J^-1 K(phi) J^-T and det(J) f(phi).
    On a smooth full tensor the mismatch between the transformed solution and the solver's answer
    to the transformed input is the discretization's and the interpolation's, second order
    (measured 1.2e-2, 3.3e-3, 8.8e-4 at 17, 33, 65 nodes); composing the inputs with phi without the
    Jacobian factors leaves a mismatch that does not shrink (0.20 at 65), and so does mixing up k11 and k22."""
    coefficients = torch.randn(1, 2, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    errors = []
    for n in (17, 33, 65):  # the last pair is used below
        p, x, u = _smooth_darcy_pair(n)
        xt, ut = covariance(x, u, coefficients, warp=0.5)
        errors.append(_relative(p.solve(dict(zip(p.inputs, xt.unbind(1))))["u"][:, None], ut))
    assert errors[0] / errors[1] > 3.3 and errors[1] / errors[2] > 3.3 and errors[2] < 1.5e-3, errors
    phi, _ = coordinate_change(coefficients, 0.5, 65)
    where = torch.stack([phi[:, 1], phi[:, 0]], dim=-1) * 2 - 1
    naive = torch.nn.functional.grid_sample(x, where, mode="bilinear", align_corners=True)
    naive_error = _relative(p.solve(dict(zip(p.inputs, naive.unbind(1))))["u"][:, None], ut)
    assert naive_error > 0.1


def _relative(solved, expected):
    return float((solved - expected).abs().max() / expected.abs().max())


def test_the_coordinate_change_fixes_the_boundary_and_has_the_asked_largest_gradient():
    coefficients = torch.randn(3, 2, 2, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    phi, jac = coordinate_change(coefficients, 0.4, 33)
    grid = torch.stack(torch.meshgrid(*[torch.linspace(0, 1, 33, dtype=torch.float64)] * 2, indexing="ij"))
    boundary = torch.ones(33, 33, dtype=torch.bool)
    boundary[1:-1, 1:-1] = False
    assert float((phi - grid)[..., boundary].abs().max()) < 1e-15
    gradient = (jac - torch.eye(2, dtype=torch.float64)[:, :, None, None]).pow(2).sum((1, 2)).sqrt()
    assert torch.allclose(gradient.amax((-2, -1)), torch.full((3,), 0.4, dtype=torch.float64), atol=1e-14)
    det = jac[:, 0, 0] * jac[:, 1, 1] - jac[:, 0, 1] * jac[:, 1, 0]
    assert float(det.min()) > 0.5  # one-to-one: |grad d| <= 0.4 keeps det J >= (1 - 0.4)^2


def test_augmentation_is_refused_where_the_problem_lacks_it():
    with pytest.raises(ConfigError, match="cavity_2d declares none"):
        load_recipe("cavity_unet", quick=True, overrides=["train.augment=true"])
    with pytest.raises(ConfigError, match="navier_stokes_2d declares none and data.trajectory is set"):
        load_recipe("ns_fno3d", quick=True, overrides=["train.augment=true"])
    with pytest.raises(ConfigError, match="dihedral and covariance act on 2D pairs"):
        pair_augmentation(("dihedral",), 1)
    with pytest.raises(ConfigError, match="superposition would mix the parameter channels"):
        pair_augmentation(("superposition",), 1, params=1)
    with pytest.raises(ConfigError, match="train.augment_boost = 0.5 asks for the galilean symmetry, which darcy_2d"):
        load_recipe("darcy_fno", quick=True, overrides=["train.augment=true", "train.augment_boost=0.5"])
    with pytest.raises(ConfigError, match="train.augment_warp = 0.5 asks for the covariance symmetry, which darcy_2d"):
        load_recipe("darcy_fno", quick=True, overrides=["train.augment=true", "train.augment_warp=0.5"])
    with pytest.raises(ConfigError, match="train.augment_warp must lie in"):
        load_recipe("darcy_fno", quick=True, overrides=["data.problem=darcy_tensor_2d", "train.augment=true",
                                                        "train.augment_warp=0.95"])
    recipe = load_recipe("burgers_fno", quick=True, overrides=["train.augment=true", "train.augment_boost=0.2"])
    assert recipe.task.augment_boost == 0.2


def test_the_operator_task_augments_each_batch_from_its_seeded_generator():
    """The supervised task hands each batch to the augmentation with the epoch's generator: the same
    epoch gives the same transformed batch, another epoch another one, and a translation keeps each
    sample's spectrum magnitudes below Nyquist."""
    from pdekit.train.supervised import SupervisedConfig, SupervisedTask

    x = torch.randn(8, 1, 32)
    task = SupervisedTask((x, x.clone()), (x, x), SupervisedConfig(augment=True),
                          augmentation=pair_augmentation(("translation",), 1))

    class Cfg:
        seed, batch_size, compile = 0, 8, False

    task.setup(torch.nn.Conv1d(1, 1, 1), Cfg, torch.device("cpu"))
    (a, b), = task.batches(0, torch.float32)
    (a2, _), = task.batches(0, torch.float32)
    (a3, _), = task.batches(1, torch.float32)
    assert torch.equal(a, a2) and not torch.allclose(a, a3) and torch.allclose(a, b)
    assert not torch.allclose(a.sort(0).values, x.sort(0).values, atol=1e-3)  # moved
    spectrum = torch.fft.rfft(x.double())[..., :-1].abs().sort(0).values  # (the Nyquist cosine does not shift)
    assert torch.allclose(torch.fft.rfft(a.double())[..., :-1].abs().sort(0).values, spectrum, atol=1e-4)
    with pytest.raises(ConfigError, match="augment and physics_weight need a problem"):
        SupervisedTask((x, x), (x, x), SupervisedConfig(augment=True))


@pytest.mark.parametrize("names, ndim", [(("translation", "reflection", "galilean", "superposition"), 1),
                                         (("dihedral", "translation", "covariance", "superposition"), 2)])
def test_augmentation_follows_the_data_to_its_device(names, ndim):
    """The task moves a batch to the training device before augmenting it; the random draws come
    from a CPU generator. On the meta device (shapes and devices only) a draw left on the CPU
    raises, as it would on a GPU."""
    from pdekit.data.lie import transform

    channels = 4 if "covariance" in names else 1
    x = torch.empty(3, channels, *[16] * ndim, device="meta")
    y = torch.empty(3, 1, *[16] * ndim, device="meta")
    augment = pair_augmentation(names, ndim, elapsed=0.5, boost=0.3, warp=0.3)
    xt, yt = augment(x, y, torch.Generator().manual_seed(0))
    assert xt.device.type == yt.device.type == "meta" and xt.shape == x.shape and yt.shape == y.shape
    moved = transform(torch.empty(3, 4, 1, 16, device="meta"), torch.arange(4.0), torch.rand(3), torch.rand(3), 1.0)
    assert moved.device.type == "meta"


def test_a_batch_of_one_is_not_mixed_with_itself():
    """Superposition needs a partner; a last batch of one sample passes unchanged (mixed with itself
    it would be scaled by cos + sin, anywhere in [-1.41, 1.41])."""
    x, y = torch.randn(1, 1, 32, dtype=torch.float64), torch.randn(1, 1, 32, dtype=torch.float64)
    xt, yt = pair_augmentation(("superposition",), 1)(x, y, torch.Generator().manual_seed(0))
    assert torch.equal(xt, x) and torch.equal(yt, y)


def test_channels_constant_in_training_stay_finite_when_augmented():
    """darcy_tensor_2d's k12 = 0 and f = 1 are constant in its training data; after a change of
    coordinates they are not, so the normalizer scales a constant channel by its size (or 1), not
    by its zero deviation."""
    from pdekit.data.dataset import Normalizer

    x = torch.stack([torch.rand(6, 5, 5) * 9 + 3, torch.zeros(6, 5, 5), torch.full((6, 5, 5), 4.0)], 1)
    norm = Normalizer.fit(x)
    assert torch.equal(norm.std[1:], torch.tensor([1.0, 4.0]))
    moved = x.clone()
    moved[:, 1], moved[:, 2] = 0.3, 5.0
    encoded = norm.encode(moved)
    assert torch.allclose(encoded[:, 1:], torch.tensor([0.3, 0.25]).view(1, 2, 1, 1).expand(6, 2, 5, 5))
    assert torch.equal(norm.encode(x)[:, 1:], torch.zeros(6, 2, 5, 5))
    # constant up to rounding relative to its size (a float32 mean of 1e6 is off by about 0.06):
    # still a constant channel, not one whose noise becomes its unit
    big = torch.full((6, 1, 5, 5), 1e6, dtype=torch.float64) + 1e-7 * torch.randn(6, 1, 5, 5, dtype=torch.float64)
    assert float(Normalizer.fit(big).std[0]) == pytest.approx(1e6)
