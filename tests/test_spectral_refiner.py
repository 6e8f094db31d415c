"""Spectral-Refiner: an FNO trained, frozen, and its last spectral layer fine-tuned with more modes."""

import math

import pytest
import torch

from pdekit.errors import ConfigError
from pdekit.models import FNO, build_model
from pdekit.train import fit
from pdekit.train.trainer import stage_of, staged_cosine

SMALL = {"modes": 3, "hidden_channels": 16, "n_layers": 2, "lifting_channels": 16, "projection_channels": 16}


def _data(n, seed, points=64):
    """Inputs with modes 1..3; targets add d/dx (u^3), modes up to 9, which an FNO of 3 modes cannot
    differentiate (its layers above mode 3 are pointwise) and its untruncated last layer can."""
    g = torch.Generator().manual_seed(seed)
    x = torch.arange(points) / points
    coef = torch.randn(n, 3, 2, generator=g)
    u = sum(coef[:, k, 0, None] * torch.sin(2 * math.pi * (k + 1) * x) + coef[:, k, 1, None] *
            torch.cos(2 * math.pi * (k + 1) * x) for k in range(3))
    k = torch.fft.rfftfreq(points, 1 / points)
    y = u + 0.3 * torch.fft.irfft(torch.fft.rfft(u**3) * 1j * k / 9, n=points)
    return u[:, None], y[:, None]


def test_stages_may_take_unequal_shares():
    assert [stage_of(e, 10, (0.8, 0.2)) for e in range(1, 11)] == [0] * 8 + [1] * 2
    factors = [staged_cosine(e, 10, (0.8, 0.2)) for e in range(10)]
    assert factors[0] == factors[8] == 1.0
    assert factors[9] == pytest.approx(0.5, abs=1e-15) and factors[7] == pytest.approx(0.5 * (1 + math.cos(7 * math.pi / 8)))
    assert [stage_of(e, 7, 2) for e in range(1, 8)] == [0, 0, 0, 0, 1, 1, 1]  # SpecBoost's equal shares stay


def test_before_fine_tuning_it_is_the_fno():
    """Same seed, same weights: the refinement is built last and starts at zero."""
    torch.manual_seed(0)
    refiner = build_model({"name": "spectral_refiner", **SMALL}, 1, 1, 1, "periodic")
    torch.manual_seed(0)
    fno = build_model({"name": "fno", **SMALL}, 1, 1, 1, "periodic")
    x = _data(2, 0)[0]
    assert torch.equal(refiner(x), fno(x)) and isinstance(refiner, FNO)
    assert refiner.refinement.modes == (6,)  # twice the trained modes by default


def test_fine_tuning_trains_only_the_last_layers_extra_modes_and_lowers_the_error(tmp_path):
    """Epochs 1-32 train the FNO with the refinement untouched (zero), epochs 33-40 the refinement
    alone: everything else is bitwise frozen, the learning rate restarts, and the untruncated last
    layer lowers the validation error (measured 0.337 -> 0.239 with 1 thread; the FNO trained all
    40 epochs: 0.320)."""
    torch.manual_seed(0)
    model = build_model({"name": "spectral_refiner", **SMALL, "refine_modes": 16}, 1, 1, 1, "periodic")
    snapshot = {}
    set_stage = model.set_stage

    def watch(stage):
        if stage == 1 and not snapshot:
            snapshot.update({k: v.clone() for k, v in model.state_dict().items()})
        set_stage(stage)

    model.set_stage = watch
    trained = fit(model, _data(32, 0), _data(16, 1), run_dir=str(tmp_path / "run"), quiet=True, epochs=40,
                  batch_size=16, lr=1e-2)
    assert not snapshot["refinement.weight"].abs().max()  # untouched by the first stage
    after = model.state_dict()
    changed = [k for k in after if not torch.equal(after[k], snapshot[k])]
    assert changed == ["refinement.weight"]
    history = trained.history
    assert history[32]["lr"] == history[0]["lr"] == 1e-2
    before, refined = history[31]["val_rel_l2"], history[-1]["val_rel_l2"]
    assert refined < 0.8 * before, (before, refined)


def test_the_refined_model_is_resolution_invariant():
    """A band-limited input at 64 and 256 points: the same output at the shared points, to the
    aliasing of the pointwise layers (measured 3.1e-3 relative; 5e-5 with the refinement at zero:
    a layer that reads modes up to 16 of a 64-point grid sees more of the aliased harmonics the
    activations make)."""
    torch.manual_seed(0)
    model = build_model({"name": "spectral_refiner", **SMALL, "refine_modes": 16}, 1, 1, 1, "periodic")
    torch.nn.init.normal_(model.refinement.weight, std=0.05)
    with torch.no_grad():
        coarse, fine = model(_data(2, 3, 64)[0]), model(_data(2, 3, 256)[0])[..., ::4]
    assert float((coarse - fine).abs().max() / fine.abs().max()) < 5e-3


@pytest.mark.parametrize("options, message", [
    ({"refine_share": 1.0}, "refine_share must lie in"),
    ({"modes": 8, "refine_modes": 4}, "at least the trained modes"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        build_model({"name": "spectral_refiner", **options}, 1, 1, 1)


@pytest.mark.parametrize("epochs, share, empty", [(2, 0.2, 2), (10, 0.97, 1)])
def test_a_stage_without_an_epoch_is_refused(epochs, share, empty):
    """0.2 of 2 epochs rounds to none (the model would never be fine-tuned); 0.03 of 10 leaves the
    FNO untrained."""
    model = build_model({"name": "spectral_refiner", **SMALL, "refine_share": share}, 1, 1, 1, "periodic")
    with pytest.raises(ConfigError, match=f"train.epochs = {epochs} leaves stage {empty} of the model's 2"):
        fit(model, _data(8, 0), _data(4, 1), quiet=True, epochs=epochs, batch_size=8)


def test_a_rollout_keeps_the_stages_and_a_recipe_checks_them_before_any_work():
    """Wrapped for autoregressive training, the net still gets its stages from the Trainer: in the
    last fifth of the epochs only the refinement changes. A recipe whose epochs leave a stage
    empty is refused when it loads, before any data is made."""
    from pdekit.data.trajectories import windows
    from pdekit.recipes import load_recipe
    from pdekit.train.rollout import Autoregressive, RolloutTask

    torch.manual_seed(0)
    net = build_model({"name": "spectral_refiner", **SMALL, "refine_modes": 16}, 1, 1, 1, "periodic")
    model = Autoregressive(net, channels=1, dt=0.1)
    snapshot, set_stage = {}, model.set_stage

    def watch(stage):
        if stage == 1 and not snapshot:
            snapshot.update({k: v.clone() for k, v in model.state_dict().items()})
        set_stage(stage)

    model.set_stage = watch
    u = torch.randn(10, 4, 1, 32, generator=torch.Generator().manual_seed(0))
    fit(model, RolloutTask(windows(u[:8], 1, 2), windows(u[8:], 1, 2)), quiet=True, epochs=10, batch_size=8)
    after = model.state_dict()
    assert snapshot and [k for k in after if not torch.equal(after[k], snapshot[k])] == ["net.refinement.weight"]
    for recipe in ("ks_rollout", "burgers_fno"):
        with pytest.raises(ConfigError, match="train.epochs = 2 leaves stage 2 of the model's 2 training stages"):
            load_recipe(recipe, quick=True, overrides=["model={name: spectral_refiner, modes: 8}", "train.epochs=2"])
