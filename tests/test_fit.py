"""fit: pdekit's trainer on a user's own nn.Module (not registered), on data pdekit generated."""

import numpy as np
import pytest
import torch
from torch import nn

from pdekit.data.dataset import load_pairs
from pdekit.data.generate import generate
from pdekit.eval.metrics import relative_l2
from pdekit.problems import get_problem
from pdekit.train import fit


class SpectralFilter(nn.Module):
    """Learns one complex gain per Fourier mode: heat_1d's exact solution operator is such a filter."""

    def __init__(self, modes: int):
        super().__init__()
        self.gain = nn.Parameter(torch.zeros(modes, 2))

    def forward(self, x):
        spectrum = torch.fft.rfft(x)
        gain = torch.view_as_complex(self.gain)
        out = torch.zeros_like(spectrum)
        out[..., : len(gain)] = spectrum[..., : len(gain)] * gain
        return torch.fft.irfft(out, n=x.shape[-1])


def test_fit_trains_a_users_module_on_generated_data(tmp_path):
    problem = get_problem("heat_1d").from_params(32, {"nu": 0.01})
    generate(problem, 60, seed=0, out=tmp_path / "train.h5", quiet=True)
    generate(problem, 10, seed=0, out=tmp_path / "val.h5", first=60, quiet=True)
    train, val = load_pairs(tmp_path / "train.h5")[:2], load_pairs(tmp_path / "val.h5")[:2]
    model = SpectralFilter(modes=17)
    trained = fit(model, train, val, run_dir=str(tmp_path / "run"), quiet=True, epochs=60, batch_size=10, lr=0.05,
                  weight_decay=0.0)
    error = float(relative_l2(trained.predict(val[0]), val[1]).mean())
    # the initial gains (zero) score 1.0; the filter can represent the solver's operator exactly
    assert error < 1e-4 and trained.history[-1]["val_rel_l2"] == error  # measured 1.8e-5
    assert (tmp_path / "run" / "checkpoint.pt").exists() and trained.model is model


def test_fit_refuses_bad_data_and_options_in_api_terms(tmp_path):
    import pytest

    from pdekit.errors import ConfigError, PdekitError

    x = torch.ones(4, 1, 8)
    with pytest.raises(PdekitError, match="train_data must be"):
        fit(SpectralFilter(3), (x, x[:3]), (x, x), quiet=True)
    with pytest.raises(PdekitError, match="train_data must be"):  # both wrong: the first named (it was val_data)
        fit(SpectralFilter(3), (x[:, 0], x[:, 0]), (x[:, 0], x[:, 0]), quiet=True)
    with pytest.raises(PdekitError, match="model must be a torch.nn.Module.*got function"):
        fit(lambda t: t, (x, x), (x, x), quiet=True)
    with pytest.raises(ConfigError, match="epochs"):
        fit(SpectralFilter(3), (x, x), (x, x), quiet=True, epochs=0)
    # what would otherwise fail inside torch, or show up as a NaN loss blamed on the learning rate
    broken = x.clone()
    broken[2, 0, 5] = float("nan")
    from pdekit.models import FNO

    fno = FNO(n_modes=(3,), hidden_channels=8)
    (tmp_path / "taken").write_text("x")
    with pytest.raises(PdekitError, match="cannot write .*taken"):  # a file where the run folder should go
        fit(fno, (x, x), (x, x), run_dir=str(tmp_path / "taken"), quiet=True)
    with pytest.raises(ConfigError, match="the FNO has spectral weights\\); use train.amp=bf16"):  # as recipes refuse
        fit(fno, (x, x), (x, x), quiet=True, epochs=1, amp="fp16")
    for train, val, message in [
        ((broken, x), (x, x), r"train_data's x holds NaN or inf values in 1 sample\(s\), the first 2"),
        ((x, x), (x, broken.exp()), r"val_data's y holds NaN or inf"),
        ((x.long(), x), (x, x), "must hold floating-point numbers, got torch.int64"),
        ((x[:0], x[:0]), (x, x), "train_data holds no samples"),
        ((x, x), (x, 0 * x), r"val_data's y is zero everywhere in 4 sample\(s\), the first 0"),
        ((x.double(), x.double()), (x.double(), x.double()), "the data is torch.float64 and the model torch.float32"),
        ((x, x.repeat(1, 2, 1)), (x, x.repeat(1, 2, 1)), r"to \(1, 8\), but the targets are shaped \(2, 8\)"),
        ((x.repeat(1, 3, 1), x), (x.repeat(1, 3, 1), x), "the model fails on an input shaped \\(3, 8\\)"),
    ]:
        with pytest.raises(PdekitError, match=message):
            fit(fno, train, val, quiet=True, epochs=1)


def test_a_file_with_nan_is_refused_when_read(tmp_path):
    import h5py

    from pdekit.errors import DataFileError

    problem = get_problem("heat_1d").from_params(16, {"nu": 0.01})
    generate(problem, 4, seed=0, out=tmp_path / "h.h5", quiet=True)
    with h5py.File(tmp_path / "h.h5", "r+") as f:
        f["fields/u"][2, -1, 3] = float("nan")
    with pytest.raises(DataFileError, match="targets of 1 sample\\(s\\) hold NaN or inf, the first sample 2 of the file"):
        load_pairs(tmp_path / "h.h5", start=1)
    # the streamed and trajectory readers refuse it too (the NaN spread into the normalizers, and
    # training stopped on a NaN loss blamed on the learning rate)
    from pdekit.data.dataset import Split
    from pdekit.data.sources import StreamedPairs
    from pdekit.data.trajectories import load_trajectories

    with pytest.raises(DataFileError, match="targets of 1 sample\\(s\\) hold NaN or inf, the first sample 2 of the file"):
        StreamedPairs(Split(str(tmp_path / "h.h5"), 1, 3), buffer=4).normalizers()
    with pytest.raises(DataFileError, match="trajectories of 1 sample\\(s\\) hold NaN or inf, the first sample 2 of"):
        load_trajectories(Split(str(tmp_path / "h.h5"), 1, 3))
    assert len(load_trajectories(Split(str(tmp_path / "h.h5"), 0, 2))[0]) == 2  # the samples before it read
    from pdekit.data.dataset import check_finite

    check_finite("h.h5", 0, empty=np.zeros((0, 4, 16)), values=np.zeros(3))  # no samples, or scalars: nothing to refuse
    with pytest.raises(DataFileError, match="values of 1 sample\\(s\\) hold NaN or inf, the first sample 5 of"):
        check_finite("h.h5", 4, values=np.array([0.0, np.inf]))


def test_stored_times_must_increase_and_a_rollout_needs_them_evenly_spaced(tmp_path):
    import h5py

    from pdekit.data.trajectories import load_trajectories, time_step
    from pdekit.errors import DataFileError

    problem = get_problem("heat_1d").from_params(16, {"nu": 0.01, "nt": 4})
    generate(problem, 2, seed=0, out=tmp_path / "h.h5", quiet=True)
    assert time_step(load_trajectories(tmp_path / "h.h5")[1], "h.h5") == pytest.approx(1 / 3)
    with h5py.File(tmp_path / "h.h5", "r+") as f:
        f["coords/t"][...] = [0.0, 0.1, 0.3, 0.7]
    # times stored in float32 far from zero round unevenly: accepted, their mean step taken
    late = (1e4 + 0.01 * torch.arange(101, dtype=torch.float64)).float().double().numpy()
    assert time_step(late, "late.h5") == pytest.approx(0.01, rel=1e-4)
    with pytest.raises(DataFileError, match=r"spaced unevenly \(steps from 0.1 to 0.4\)"):
        time_step(load_trajectories(tmp_path / "h.h5")[1], "h.h5")
    with h5py.File(tmp_path / "h.h5", "r+") as f:
        f["coords/t"][...] = 0.0  # (a rollout took dt = 0 and divided by it)
    with pytest.raises(DataFileError, match="the stored times must increase"):
        load_trajectories(tmp_path / "h.h5")


def _pairs(seed, n=16):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 16, generator=g)
    return x, 0.5 * x


def test_a_run_folder_refuses_other_data_and_a_task_checks_options_given_to_fit(tmp_path):
    import pytest

    from pdekit.errors import ConfigError, PdekitError
    from pdekit.train import SupervisedTask

    fit(SpectralFilter(9), _pairs(0), _pairs(1), run_dir=str(tmp_path / "run"), quiet=True, epochs=2)
    with pytest.raises(PdekitError, match="another recipe or config"):  # not the first run's weights, silently
        fit(SpectralFilter(9), _pairs(2), _pairs(1), run_dir=str(tmp_path / "run"), quiet=True, epochs=2)
    with pytest.raises(PdekitError, match=r"\(trainer.lr: 0.001 in the saved run, 0.002 now\)"):
        fit(SpectralFilter(9), _pairs(0), _pairs(1), run_dir=str(tmp_path / "run"), quiet=True, epochs=2, lr=2e-3)
    with pytest.raises(ConfigError, match="physics_weight need a problem"):
        fit(SpectralFilter(9), SupervisedTask(_pairs(0), _pairs(1)), quiet=True, epochs=2, physics_weight=1.0)


def test_a_nan_validation_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import math

    import pytest

    from pdekit.train import SupervisedTask
    from pdekit.train.trainer import TrainingDiverged

    real, calls = SupervisedTask.validate, {"n": 0}

    def poisoned(self, model):
        calls["n"] += 1
        return {"val_rel_l2": math.nan} if calls["n"] == 3 else real(self, model)

    monkeypatch.setattr(SupervisedTask, "validate", poisoned)
    with pytest.raises(TrainingDiverged, match="at epoch 3; the last good checkpoint \\(epoch 2\\) is kept"):
        fit(SpectralFilter(9), _pairs(0), _pairs(1), run_dir=str(tmp_path / "run"), quiet=True, epochs=5)
    saved = torch.load(tmp_path / "run/checkpoint.pt", weights_only=True)
    assert saved["epoch"] == 2 and all(torch.isfinite(v).all() for v in saved["model"].values())


def test_a_time_budget_between_rows_still_scores_the_final_weights(monkeypatch):
    """With rows every 5 epochs and a budget that ends after epoch 2, the run ends with a row for
    epoch 2 (what the weights it returns score), not the last logged one."""
    from pdekit.train import trainer

    clock = iter(float(i) for i in range(10_000))
    monkeypatch.setattr(trainer.time, "perf_counter", lambda: next(clock))  # every epoch takes one second
    trained = fit(SpectralFilter(9), _pairs(0), _pairs(1), quiet=True, epochs=20, log_every=5, max_seconds=2)
    assert [row["epoch"] for row in trained.history] == [2] and trained.epoch == 2


def test_grad_clip_bounds_the_gradient_adam_steps_with(monkeypatch):
    """train.grad_clip had no test that it clips: every step's gradient norm, as Adam takes it, is at
    most the clip (0.01, where the norm is 0.35 unclipped), and without it the norm is left alone."""
    seen = []
    real_step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    fit(SpectralFilter(9), _pairs(0), _pairs(1), quiet=True, epochs=3, grad_clip=0.01)
    clipped, seen[:] = list(seen), []
    fit(SpectralFilter(9), _pairs(0), _pairs(1), quiet=True, epochs=3)
    assert max(clipped) <= 0.01 * (1 + 1e-6) and min(seen) > 0.3, (clipped, seen)  # (measured 0.35 unclipped)


def test_fit_gives_the_callers_thread_count_back():
    """train.threads applies while training; code after fit runs with the threads it had before."""
    seen = []

    class Recording(SpectralFilter):
        def forward(self, x):
            seen.append(torch.get_num_threads())
            return super().forward(x)

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        trained = fit(Recording(9), _pairs(0), _pairs(1), quiet=True, epochs=1, threads=1)
        assert trained.epoch == 1 and set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_differences_a_refused_resume_names():
    """Every key whose value is written differently (22 is not 22.0: the recipe stores what was
    given), cut to 40 characters for display but compared whole; a mere reordering names none."""
    from pdekit.train.trainer import json_differences

    assert json_differences('{"data": {"L": 22.0}}', '{"data": {"L": 22}}') == "data.L: 22.0 in the saved run, 22 now"
    long = json_differences('{"a": "' + "x" * 50 + '1"}', '{"a": "' + "x" * 50 + '2"}')
    assert long.startswith('a: "xxx') and long.count("...") == 2
    assert json_differences('{"a": 1, "b": 2}', '{"b": 2, "a": 1}') == "the same keys and values, written differently"
    assert json_differences('{"a": 1}', '{"b": true}') == ("a: 1 in the saved run, absent now; "
                                                           "b: absent in the saved run, true now")
