"""Trainer and `pdekit run/train/eval`: resume after a kill, NaN handling, bad input, outputs."""

import json
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml

import pdekit
from pdekit.errors import ConfigError, DataFileError, PdekitError

TINY = {
    "name": "tiny",
    "description": "heat_1d, tiny FNO",
    "data": {"problem": "heat_1d", "resolution": 32, "params": {"nt": 2, "nu": 0.02}, "n_train": 48, "n_test": 8,
             "seed": 0, "batch_size": 16},
    "model": {"name": "fno", "modes": 6, "width": 12, "depth": 2, "lifting_channels": 16, "projection_channels": 16},
    "train": {"epochs": 6, "batch_size": 8, "lr": 3e-3, "threads": 1},
    "eval": {"resolutions": [64], "timing_samples": 2, "plot_samples": 2},
}


@pytest.fixture
def recipe_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)

    def write(**changes):
        raw = json.loads(json.dumps(TINY))
        for dotted, value in changes.items():
            section, key = dotted.split("__")
            raw[section][key] = value
        path = tmp_path / "tiny.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path

    return write


def _weights(run_dir):
    return torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=True)["model"]


def test_run_writes_report_metrics_and_reuses_data(run_cli, recipe_file, tmp_path):
    path = recipe_file()
    code, out, err = run_cli("run", path, "--out", "runs/a", "--quiet")
    assert code == 0, err
    metrics = json.loads((tmp_path / "runs/a/metrics.json").read_text())
    for key in ("test_rel_l2", "params", "train_seconds", "solver_seconds_per_sample", "model_seconds_per_sample"):
        assert key in metrics
    assert 0.2 < metrics["test_rel_l2"] < 0.4 and metrics["epochs"] == 6  # measured 0.31 (6 epochs of a tiny FNO)
    assert set(metrics["resolution_transfer"]) == {"64"}
    for plot in ("loss", "predictions", "frequency", "resolution", "speed_accuracy"):
        assert (tmp_path / f"runs/a/plots/{plot}.png").stat().st_size > 1000
    report = (tmp_path / "runs/a/report.md").read_text()
    assert "test relative L2" in out and metrics["speed_verdict"] in out
    assert report.startswith("# tiny\n\nOn the test split the surrogate's mean relative L2 error is")
    assert "48 train / 5 validation / 8 test" in report and metrics["speed_verdict"] in report
    ladder, surrogate = metrics["solver_ladder"], metrics["timed_rel_l2"]
    assert ladder[0]["rel_l2"] < 1e-7 and ladder[-1]["rel_l2"] > surrogate  # the crossing is in the table
    matched = min((r for r in ladder if r["rel_l2"] <= surrogate), key=lambda r: r["seconds_per_sample"])
    assert metrics["matched_setting"] == matched
    assert metrics["speedup"] == pytest.approx(matched["seconds_per_sample"] / metrics["model_seconds_per_sample"])
    data_files = sorted(os.listdir(tmp_path / "data"))
    assert len(data_files) == 4  # train, validation, test, test at 64
    mtimes = [os.path.getmtime(tmp_path / "data" / f) for f in data_files]
    assert run_cli("run", path, "--out", "runs/b", "--quiet")[0] == 0
    assert sorted(os.listdir(tmp_path / "data")) == data_files
    assert [os.path.getmtime(tmp_path / "data" / f) for f in data_files] == mtimes
    # same recipe, same seeds: the same weights on the CPU
    a, b = _weights("runs/a"), _weights("runs/b")
    assert all(torch.equal(a[k], b[k]) for k in a)

    record = {f: (tmp_path / "runs/a" / f).read_bytes() for f in ("metrics.json", "report.md")}
    code, _, err = run_cli("eval", "runs/a", "--json", "eval.json")
    assert code == 0, err
    again = json.loads((tmp_path / "eval.json").read_text())
    assert set(metrics) <= set(again) and again["test_rel_l2"] == pytest.approx(metrics["test_rel_l2"], rel=1e-6)
    code, _, err = run_cli("eval", "runs/a", "--json", "/proc/eval.json")
    assert code == 2 and err.startswith("pdekit: error: cannot write") and len(err.strip().splitlines()) == 1
    if not torch.cuda.is_available():  # --device: auto falls back to the CPU, cuda is refused in one line
        code, _, err = run_cli("eval", "runs/a", "--device", "auto", "--json", "auto.json")
        assert code == 0 and json.loads((tmp_path / "auto.json").read_text())["device"] == "cpu", err
        code, _, err = run_cli("eval", "runs/a", "--device", "cuda")
        assert code == 2 and "use --device cpu" in err and len(err.strip().splitlines()) == 1, err  # its own flag
    # evaluation settings over the run's own (a changed eval key refused the training's rerun)
    code, _, err = run_cli("eval", "runs/a", "eval.resolutions=[128]", "--json", "finer.json", "--quiet")
    assert code == 0 and "heat_1d" not in err, err  # (no bar while the test split at 128 is solved)
    assert set(json.loads((tmp_path / "finer.json").read_text())["resolution_transfer"]) == {"128"}
    code, _, err = run_cli("eval", "runs/a", "train.lr=1")
    assert code == 2 and "pdekit eval takes eval.KEY=VALUE settings only" in err, err
    # outputs inside the run folder or onto the data file are refused (--json overwrote the checkpoint)
    for args, fragment in [(("--json", "runs/a/checkpoint.pt"), "--json must name a path outside the run folder"),
                           (("--report", "runs/a/plots"), "--report must name a path outside the run folder"),
                           (("--data", "runs/b.h5", "--json", "runs/b.h5"), "would overwrite the data file")]:
        code, _, err = run_cli("eval", "runs/a", *args)
        assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err
    os.makedirs("rep")  # a data file beside the report (not its report.md or plots/) is fine
    shutil.copy(tmp_path / "data" / data_files[0], "rep/d.h5")
    code, _, err = run_cli("eval", "runs/a", "--data", "rep/d.h5", "--report", "rep")
    assert code == 0 and (tmp_path / "rep/report.md").exists(), err
    # evaluating never rewrites the run's own record
    assert {f: (tmp_path / "runs/a" / f).read_bytes() for f in record} == record


def test_killed_training_resumes_to_the_same_weights(recipe_file, tmp_path):
    path = recipe_file(train__epochs=14, data__n_train=256, data__batch_size=64)
    base = [sys.executable, "-m", "pdekit", "train", str(path), "--quiet"]
    env = {**os.environ, "PDEKIT_DATA": str(tmp_path / "data")}
    assert subprocess.run(base + ["--out", "runs/full"], env=env, capture_output=True).returncode == 0

    proc = subprocess.Popen(base + ["--out", "runs/killed"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    csv_path = tmp_path / "runs/killed/metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline:
        if csv_path.exists() and len(csv_path.read_text().splitlines()) >= 4:  # header + 3 epochs
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # metrics.csv is written just after the checkpoint
    epoch_at_kill = torch.load(tmp_path / "runs/killed/checkpoint.pt", weights_only=True)["epoch"]
    assert 3 <= epoch_at_kill < 14, "training finished before the kill; make it slower"

    resumed = subprocess.run(base + ["--out", "runs/killed"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    full, killed = _weights(tmp_path / "runs/full"), _weights(tmp_path / "runs/killed")
    assert all(torch.equal(full[k], killed[k]) for k in full)
    rows = list(csv.DictReader(csv_path.open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 15)) and {r["phase"] for r in rows} == {"adam"}


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(recipe_file, monkeypatch, tmp_path):
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe
    from pdekit.train import supervised, trainer

    recipe = load_recipe(str(recipe_file()))
    real_loss = supervised.LOSSES["rel_l2"]
    calls = {"n": 0}

    def poisoned(pred, true):
        calls["n"] += 1
        value = real_loss(pred, true)
        return value * float("nan") if calls["n"] > 12 else value  # 6 steps per epoch: epoch 3

    monkeypatch.setitem(supervised.LOSSES, "rel_l2", poisoned)
    with pytest.raises(trainer.TrainingDiverged, match="nan at epoch 3.*epoch 2"):
        run_recipe(recipe, "runs/nan", quiet=True)
    assert torch.load(tmp_path / "runs/nan/checkpoint.pt", weights_only=True)["epoch"] == 2


def test_stray_arguments_after_options_are_refused(run_cli, capsys):
    """An override without '=' after an option says what an override is (it said 'unrecognized
    arguments' under the top-level usage); a misspelt option gets its command's usage and a
    suggestion."""
    code, _, err = run_cli("run", "burgers_fno", "--quick", "stray")
    assert code == 2 and "overrides are key=value with a dotted key (model.width=64), got 'stray'" in err, err
    with pytest.raises(SystemExit) as stop:
        run_cli("run", "burgers_fno", "--quick", "--device", "cuda")
    assert stop.value.code == 2 and "(the device is a recipe key: train.device=cuda)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        run_cli("run", "burgers_fno", "--quik")
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "pdekit run: error: unrecognized arguments: --quik (did you mean --quick?)" in err
    with pytest.raises(SystemExit) as stop:
        run_cli("--version")
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"pdekit {pdekit.__version__}"


def test_a_closed_pipe_ends_a_listing_quietly():
    """`pdekit list models | head` printed "pdekit: error: [Errno 32] Broken pipe"."""
    import subprocess
    import sys

    done = subprocess.run(f"{sys.executable} -m pdekit list models | head -1", shell=True, capture_output=True,
                          text=True)
    assert done.stdout.strip() and "Broken pipe" not in done.stderr, done.stderr


@pytest.mark.parametrize("args, fragment", [
    (["run", "burgers_fnoo"], "did you mean 'burgers_fno'"),
    (["run", "burgers_fno", "model.widht=3"], "unknown key model.widht"),
    (["run", "burgers_fno", "model.width=wide"], "model.hidden_channels of fno must be an integer"),
    (["run", "burgers_fno", "train.epochs=many"], "parameter 'epochs' of train must be an integer"),
    (["run", "burgers_fno", "train.epochs="], "must be an integer, got ''"),  # (said "got None")
    (["run", "burgers_fno", "train.grad_clip=-1"], "train.grad_clip must be >= 0, got -1.0"),
    (["run", "burgers_fno", "eval.plot_samples=0"], "eval.plot_samples must be >= 1"),  # (crashed the report)
    (["run", "ks_rollout", "train.noise=-1"], "train.noise must be >= 0, got -1.0"),
    (["run", "ks_rollout", "rollout.unroll=2"], "'unroll' is not a key of section 'rollout': it is train.unroll"),
    (["run", "burgers_fno", "train.n_train=8"], "'n_train' is not a key of section 'train': it is data.n_train"),
    (["run", "burgers_fno", "train.optimizer=sgd"], "unknown parameter 'optimizer'"),
    (["run", "burgers_fno", "training.epochs=3"], "unknown override 'training.epochs'"),
    (["run", "burgers_fno", "train.scheduler=linear"], "cosine, step, none"),
    (["run", "burgers_fno", "data.params.nu=-1"], "nu must be positive"),
    (["run", "burgers_fno", "data.resolution=1000"], "unsupported resolution 1000"),
    (["run", "burgers_fno", "model.name=fancy"], "unknown model 'fancy'"),
    (["run", "burgers_fno", "model.name=[fno]"], "unknown model '['fno']'"),  # (a TypeError traceback)
    # accepted and ignored before
    (["run", "burgers_fno", "data.test_file=t.h5"], "data.test_file (t.h5) goes with data.file"),
    (["run", "darcy_fno", "data.target_time=3"], "darcy_2d is steady (they were ignored)"),
    (["run", "ks_rollout", "eval.plot_samples=7"], "eval.plot_samples are not supported by rollout recipes"),
    (["run", "."], "'.' is a folder, not a recipe"),
    (["run", "burgers_fno", "name=../x"], "must be a plain file name"),  # (checked before the overrides)
    (["run", ".", "--nproc", "2"], "'.' is a folder, not a recipe"),  # (a traceback with --nproc)
    (["run", "burgers_fno", "train.tensorboard=maybe"], "true or false"),
    (["run", "burgers_fno", "--quick", "--out", "runs/x", "model.widht=3"], "unknown key model.widht"),
    (["run", "burgers_fno", "train.amp=fp16"], "use train.amp=bf16"),
    (["run", "cavity_unet", "train.augment=true"], "cavity_2d declares none"),
    (["run", "burgers_fno", "train.augment_boost=0.5"], "needs train.augment: true"),
    (["run", "burgers_fno", "data.input_time=1", "data.target_time=-1"], "the model would learn the identity"),
    (["run", "burgers_fno", "train.step_size=10"], "train.step_size has no effect with train.scheduler=cosine"),
    (["run", "burgers_fno", "train.epochs=2", "train.epochs=3"],
     "train.epochs=2 and train.epochs=3 set the same key: give it once"),
    (["run", "burgers_fno", "model.width=32", "model.hidden_channels=16"], "model.width=32 and model.hidden_channels=16"),
    (["run", "burgers_fno", "data.params.nu=0.2", "data.params={nu: 0.3}"], "set the same key"),
    (["run", "burgers_fno", "train.sobolev_s=2"], "train.sobolev_s has no effect with train.loss=rel_l2"),
    (["run", "burgers_fno", "data.buffer=200"], "data.buffer has no effect with data.source=memory"),
    (["run", "darcy_unet", "eval.resolutions=[141]"], "unet is not resolution-invariant"),  # (its report said "holds")
    (["run", "burgers_fno", "model.name=local_fno", "model.differential=true"], "local_fno is not resolution-invariant"),
    (["run", "burgers_fno", "train.lbfgs_history=10"],
     "train.lbfgs_history has no effect with train.lbfgs_steps=0: set train.lbfgs_steps > 0"),
    (["run", "burgers_fno", "data.source=stream", "data.reuse=2", "data.workers=3"],
     "data.workers, data.reuse have no effect with data.source=stream"),
    (["run", "ks_rollout", "data.buffer=200"], "data.buffer is supported by operator recipes only"),  # (not: stream)
    (["run", "ks_rollout", "data.source=stream", "data.reuse=2"], "data.source, data.reuse are supported by operator"),
    (["run", "burgers_fno", "--quick", "data.resolution=16", "data.params.solve_resolution=64"],
     "eval.resolutions = [512, 1024] asks for 512"),
])
def test_bad_recipe_input_is_refused_before_any_work(run_cli, tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    code, _, err = run_cli(*args)
    assert code == 2 and fragment in err and "Traceback" not in err, err
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("text, fragment", [
    ("quick:\n  - data.n_train: 20\n", "quick must be a mapping of dotted keys to values"),
    ("kind: [operator]\n", "unknown recipe kind '['operator']'"),
    ("name: ../elsewhere\n", "must be a plain file name"),  # (the run folder landed outside runs/)
    ("name: null\n", "must be a plain file name"),  # (runs/None)
    ("data:\n  n_train: 20\n", "data section names no data"),  # (burgers_1d's, the default problem)
    ("kind: rollout\n", "data section names no data"),
    ("kind: pinn\nproblem:\n  name: [burgers]\n", "unknown problem '['burgers']'"),
])
def test_badly_shaped_yaml_is_one_line(run_cli, tmp_path, monkeypatch, text, fragment):
    """Lists where names or mappings belong were AttributeError and TypeError tracebacks."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text("name: r\n" + text)
    code, _, err = run_cli("run", "r.yaml", *(["--quick"] if "quick" in text else []))
    assert code == 2 and fragment in err and "Traceback" not in err, err


def test_a_folder_named_like_a_shipped_recipe_does_not_hide_it(tmp_path, monkeypatch):
    """`pdekit run darcy_fno --out darcy_fno` a second time read the run folder as the recipe; a
    recipe read from a pipe (/dev/fd/N, as `<(...)` gives) still reads."""
    from pdekit.recipes import load_recipe, shipped_recipe_text

    monkeypatch.chdir(tmp_path)
    (tmp_path / "darcy_fno").mkdir()
    assert load_recipe("darcy_fno", quick=True).name == "darcy_fno-quick"
    read, write = os.pipe()
    os.write(write, shipped_recipe_text("darcy_fno").encode())
    os.close(write)
    try:
        assert load_recipe(f"/dev/fd/{read}").raw["model"]["name"] == "fno"
    finally:
        os.close(read)


def test_a_runs_recorded_recipe_with_keys_refused_since_still_loads():
    """A key an older pdekit accepted and ignored (a target time on a steady problem, a test file
    without a file, a rollout's plot_samples, a name with a slash) no longer loads as a recipe, but a
    run's recorded recipe does, with those keys at their defaults: its run still evaluates."""
    from pdekit.recipes import load_recipe, load_saved_recipe

    raw = load_recipe("darcy_fno", quick=True).raw
    raw = {**raw, "name": "a/b", "data": {**raw["data"], "target_time": 3, "test_file": "t.h5", "buffer": 200},
           "train": {**raw["train"], "step_size": 10, "sobolev_s": 2.0, "lbfgs_history": 7}}
    for key, value in (("name", "a/b"), ("data.target_time", 3), ("data.test_file", "t.h5"), ("data.buffer", 200),
                       ("train.step_size", 10), ("train.sobolev_s", 2.0), ("train.lbfgs_history", 7)):  # each refused alone
        section, _, name = key.rpartition(".")
        alone = json.loads(load_recipe("darcy_fno", quick=True).to_json())
        (alone[section] if section else alone)[name] = value
        with pytest.raises(ConfigError):
            load_recipe(alone)
    recipe = load_saved_recipe(raw)
    assert (recipe.name, recipe.data.target_time, recipe.data.test_file) == ("b", -1, "")
    assert (recipe.data.buffer, recipe.train.step_size, recipe.task.sobolev_s) == (1024, 100, 1.0)
    assert recipe.train.lbfgs_history == 50
    rollout = load_recipe("ks_rollout", quick=True).raw
    rollout = {**rollout, "eval": {**rollout["eval"], "plot_samples": 7}}
    assert load_saved_recipe(rollout).eval.plot_samples == 3
    # transfer asked of a model tied to its grid (refused since): read without it
    unet = load_recipe("darcy_unet", quick=True).raw
    unet = {**unet, "eval": {**unet["eval"], "resolutions": [141]}}
    with pytest.raises(ConfigError, match="unet is not resolution-invariant"):
        load_recipe(unet)
    assert load_saved_recipe(unet).eval.resolutions == [] and load_saved_recipe(raw).eval.resolutions == [71]


def test_bad_checkpoints_and_data_are_refused(run_cli, recipe_file, tmp_path):
    path = recipe_file(train__epochs=1)
    assert run_cli("run", path, "--out", "runs/a", "--quiet")[0] == 0
    ckpt = tmp_path / "runs/a/checkpoint.pt"
    good = ckpt.read_bytes()

    # a checkpoint of another model: same recipe file, wider model, resumed in the same folder
    state = torch.load(ckpt, weights_only=True)
    state["model"] = {k: torch.zeros(3) for k in state["model"]}
    torch.save(state, ckpt)
    code, _, err = run_cli("eval", "runs/a")
    assert code == 2 and "belongs to another model" in err

    # not loadable with weights_only=True
    torch.save({"model": PdekitError("x"), "recipe": "{}"}, ckpt)
    code, _, err = run_cli("eval", "runs/a")
    assert code == 2 and "weights_only=True" in err and "Traceback" not in err

    ckpt.write_bytes(good[: len(good) // 3])
    code, _, err = run_cli("eval", "runs/a")
    assert code == 2 and "not a readable checkpoint" in err

    ckpt.write_bytes(good)
    # data of another problem
    assert run_cli("generate", "burgers_1d", "--n", "2", "--resolution", "32", "--set", "solve_resolution=64",
                   "--set", "t_final=0.1", "--seed", "0", "--out", "other.h5", "--quiet")[0] == 0
    code, _, err = run_cli("eval", "runs/a", "--data", "other.h5")
    assert code == 2 and "holds burgers_1d data" in err
    # a user's file with the model's input channels and other output channels (a RuntimeError in the metrics)
    import numpy as np

    from pdekit.data.storage import write_file

    identity = {"problem": "external", "n": 2, "resolution": 32, "params": {}, "seed": None, "first": 0,
                "time_dependent": False, "fields": ["u", "v"], "inputs": ["a"], "axes": ["x"]}
    arrays = {k: np.ones((2, 32), np.float32) for k in ("fields/u", "fields/v", "inputs/a")}
    write_file("two.h5", identity, {"x": np.arange(32) / 32}, {k: (32,) for k in arrays}, [(0, arrays)])
    code, _, err = run_cli("eval", "runs/a", "--data", "two.h5")
    assert code == 2 and "'two.h5' has 1 input and 2 output channel(s) in 1D; the model takes 1 and gives 1" in err, err

    # another recipe in the same run folder
    path2 = recipe_file(train__epochs=1, model__width=8)
    code, _, err = run_cli("run", path2, "--out", "runs/a", "--quiet")
    assert code == 2 and "another recipe" in err
    # ... and says where it differs, key by key
    assert "another recipe or config (model.hidden_channels: 12 in the saved run, 8 now);" in err, err


def test_tensorboard_extra_missing_gets_an_install_hint(run_cli, recipe_file, tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed here")
    code, _, err = run_cli("run", recipe_file(train__tensorboard=True), "--out", "runs/tb", "--quiet")
    assert code == 2 and "pip install 'pdekit[tensorboard]'" in err
    assert not (tmp_path / "data").exists()  # refused before any work


def test_data_free_pino_learns_darcy_from_the_residual_alone(tmp_path, monkeypatch):
    """The physics loss is the solver's own residual: the solver's output has none, and a small FNO
    trained on it alone (no targets) gets within reach of the data."""
    import torch

    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe
    from pdekit.pipeline import physics_loss as _physics_loss

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    raw = {"name": "pino", "data": {"problem": "darcy_2d", "resolution": 17, "params": {"solve_resolution": 17},
                                    "n_train": 64, "n_test": 16},
           "model": {"name": "fno", "modes": 6, "width": 16, "depth": 3},
           "train": {"epochs": 60, "batch_size": 8, "lr": 5e-3, "data_weight": 0, "physics_weight": 1, "threads": 2},
           "eval": {"solver_ladder": False, "timing_samples": 2, "plot_samples": 1}}
    recipe = load_recipe(raw)
    p = recipe.data_problem()
    a = torch.from_numpy(p.sample_inputs(np.random.default_rng(0))["a"])[None]
    u = p.solve({"a": a})["u"]
    assert float(_physics_loss(recipe)(u[:, None].float(), a[:, None].float())) < 1e-8
    results = run_recipe(recipe, "runs/pino", quiet=True)
    # far from the untrained model (about 1); the coarse-grid physics loss alone plateaus near 0.2-0.3
    assert results["test_rel_l2"] < 0.4, results["test_rel_l2"]
    with pytest.raises(ConfigError, match="steady problem"):
        load_recipe({**raw, "data": {"problem": "burgers_1d"}})


def test_pino_on_burgers_trajectories(tmp_path, monkeypatch):
    """data.trajectory: an FNO over (t, x) maps u0 to the whole trajectory; with the physics loss
    alone (Burgers' own residual and the initial slice) it learns the solution operator."""
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    raw = {"name": "pino-burgers",
           "data": {"problem": "burgers_1d", "resolution": 32,
                    "params": {"solve_resolution": 128, "nt": 11, "t_final": 0.2, "ic_scale": 5.0},
                    "n_train": 64, "n_test": 16, "trajectory": True},
           "model": {"name": "fno", "modes": 6, "width": 16, "depth": 3},
           "train": {"epochs": 40, "batch_size": 8, "lr": 5e-3, "data_weight": 0, "physics_weight": 1, "threads": 2},
           "eval": {"solver_ladder": False, "timing_samples": 2, "plot_samples": 1}}
    results = run_recipe(load_recipe(raw), "runs/pino", quiet=True)
    from pdekit.data.dataset import load_pairs
    from pdekit.eval.metrics import relative_l2

    test_file = next((tmp_path / "data").glob("burgers_1d-r32-70-*.h5"))  # after 64 train and 6 validation samples
    x, y, _ = load_pairs(test_file, trajectory=True)
    assert x.shape == y.shape == (16, 1, 11, 32) and torch.equal(x[:, :, 3], y[:, :, 0])
    frozen = float(relative_l2(x, y).mean())  # the trivial guess: u stays u0
    # the physics loss uses second-order time differences on 11 stored times, which bounds the accuracy
    assert results["test_rel_l2"] < min(0.2, 0.6 * frozen), (results["test_rel_l2"], frozen)


def test_trajectory_physics_loss_anchors_the_given_slice(tmp_path):
    """With data.input_time = 3 the input is u(t_3): the loss compares the prediction there, not at t = 0."""
    from pdekit.data.dataset import load_pairs
    from pdekit.data.generate import generate
    from pdekit.recipes import load_recipe
    from pdekit.pipeline import physics_loss as _physics_loss

    raw = {"name": "traj", "data": {"problem": "burgers_1d", "resolution": 32, "trajectory": True,
                                    "params": {"solve_resolution": 128, "nt": 11, "t_final": 0.2, "ic_scale": 5.0}},
           "model": {"name": "fno", "modes": 6, "width": 8, "depth": 1}, "train": {"physics_weight": 1}}
    losses = {}
    for t in (0, 3):
        recipe = load_recipe({**raw, "data": {**raw["data"], "input_time": t}})
        generate(recipe.data_problem(), 2, 0, tmp_path / "b.h5", quiet=True)
        x, y, _ = load_pairs(tmp_path / "b.h5", input_time=t, trajectory=True)
        losses[t] = float(_physics_loss(recipe)(y, x))  # the true trajectory: only the residual remains
    assert losses[3] == pytest.approx(losses[0], rel=1e-12)


def test_several_input_steps_predict_the_times_after_them(tmp_path, monkeypatch):
    """data.input_steps = k (FNO-3D): the input is the k slices from input_time as channels, repeated
    along time, and the target the times after them; the solver comparison scores the solver on
    exactly those times (at the data's own setting it reproduces them to rounding)."""
    from pdekit.data.dataset import load_pairs
    from pdekit.data.generate import generate
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe

    problem_params = {"nt": 7, "nu": 0.02, "t_final": 0.3}
    from pdekit.problems import get_problem

    generate(get_problem("heat_1d").from_params(16, problem_params), 3, 0, tmp_path / "h.h5", quiet=True)
    x, y, _ = load_pairs(tmp_path / "h.h5", input_time=1, trajectory=True, input_steps=3)
    u = load_pairs(tmp_path / "h.h5", trajectory=True)[1]  # (3, 1, 7, 16)
    assert x.shape == (3, 3, 3, 16) and y.shape == (3, 1, 3, 16)
    assert torch.equal(y, u[:, :, 4:]) and all(torch.equal(x[:, j, s], u[:, 0, 1 + j]) for j in range(3) for s in range(3))
    with pytest.raises(DataFileError, match="leave none to predict"):
        load_pairs(tmp_path / "h.h5", input_time=4, trajectory=True, input_steps=3)

    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    raw = {"name": "fno3d", "data": {"problem": "heat_1d", "resolution": 16, "params": problem_params, "n_train": 16,
                                     "n_test": 4, "trajectory": True, "input_time": 1, "input_steps": 3},
           "model": {"name": "fno", "modes": [2, 4], "hidden_channels": 8, "n_layers": 2},
           "train": {"epochs": 2, "batch_size": 8, "threads": 1},
           "eval": {"timing_samples": 2, "plot_samples": 1, "timing_rounds": 1}}
    results = run_recipe(load_recipe(raw), "runs/fno3d", quiet=True)
    assert results["solver_ladder"][0]["rel_l2"] < 1e-6  # the solver at the data's setting, on the target's times
    with pytest.raises(ConfigError, match="leave none to predict"):
        load_recipe({**raw, "data": {**raw["data"], "input_steps": 6}})
    with pytest.raises(ConfigError, match="only with data.trajectory"):
        load_recipe({**raw, "data": {**raw["data"], "trajectory": False}})


def test_ctrl_c_while_a_checkpoint_is_written_finishes_the_write_then_stops(tmp_path, monkeypatch):
    from pdekit.train import checkpoint

    real_save = torch.save

    def interrupted_save(state, fh):
        real_save({"model": {}, "recipe": "half"}, tmp_path / "ignored.pt")
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives in the middle of the write
        real_save(state, fh)

    monkeypatch.setattr(checkpoint.torch, "save", interrupted_save)
    path = str(tmp_path / "checkpoint.pt")
    # Python's own Ctrl-C handler, also when the tests run as a background job (which ignores SIGINT)
    launched_with = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            checkpoint.save_checkpoint(path, {"model": {"w": torch.ones(3)}, "recipe": "{}"})
    finally:
        signal.signal(signal.SIGINT, launched_with)
    assert torch.equal(checkpoint.load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert not os.path.exists(path + ".tmp")
    # where Ctrl-C is ignored (a background job), writing a checkpoint does not turn it into a stop
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        checkpoint.save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "recipe": "{}"})
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert torch.equal(checkpoint.load_checkpoint(path)["model"]["w"], torch.zeros(3))


def test_torchruns_shutdown_while_a_checkpoint_is_written_finishes_the_write_then_stops(tmp_path, monkeypatch):
    """Under torchrun, SIGTERM (its shutdown of the processes) is an interruption like Ctrl-C: held back
    while a checkpoint is written (a checkpoint.pt.tmp was left), raised once, and ignored after."""
    import threading

    from pdekit import cli
    from pdekit.train import checkpoint

    real_save = torch.save

    def terminated_save(state, fh):
        os.kill(os.getpid(), signal.SIGTERM)
        real_save(state, fh)

    monkeypatch.setattr(checkpoint.torch, "save", terminated_save)
    path = str(tmp_path / "checkpoint.pt")
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        cli._interrupt_once()  # (what a process under torchrun runs with)
        with pytest.raises(KeyboardInterrupt):
            checkpoint.save_checkpoint(path, {"model": {"w": torch.ones(3)}, "recipe": "{}"})
        # Ctrl-C and torchrun's SIGTERM arriving together: one KeyboardInterrupt, and no OSError from the
        # second while the first is handled (with SIG_IGN as the handler after the first: "Signal 15 ignored
        # due to race condition", a traceback)
        cli._interrupt_once()
        both = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, both)
        for sig in both:  # (to this thread, where they wait: torch's threads would take a process's signal at once)
            signal.pthread_kill(threading.get_ident(), sig)
        with pytest.raises(KeyboardInterrupt):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, both)
            sum(range(10))
        for _ in range(10000):  # (the pending SIGTERM is handled within)
            pass
        ignore = signal.getsignal(signal.SIGTERM)  # later signals: ignored by a Python handler
        assert ignore is signal.getsignal(signal.SIGINT) and callable(ignore)
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # (neither raises)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert torch.equal(checkpoint.load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert not os.path.exists(path + ".tmp")


def test_a_resumed_run_keeps_the_fp16_loss_scale(tmp_path, monkeypatch):
    """The loss scale of fp16 training is checkpointed. On the CPU the scaler runs with a scale that
    grows every step from near float32's limit, so that steps overflow and are skipped, and the
    scale moves: a resume that started a fresh scaler would skip other steps (this test then fails)."""
    from pdekit.train import fit
    from pdekit.train import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "_grad_scaler",
                        lambda device, amp: torch.amp.GradScaler("cpu", init_scale=2.0**110, growth_interval=1))

    class Net(torch.nn.Module):
        def __init__(self, fail_at=None):
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Sequential(torch.nn.Conv1d(1, 8, 3, padding=1), torch.nn.GELU(),
                                            torch.nn.Conv1d(8, 1, 3, padding=1))
            self.calls, self.fail_at = 0, fail_at

        def forward(self, x):
            self.calls += 1
            if self.calls == self.fail_at:
                raise KeyboardInterrupt
            return 1e8 * self.conv(x)  # a loss near 1e14: the scaled gradients overflow

    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 1, 16, generator=gen), torch.randn(64, 1, 16, generator=gen)
    data = dict(task=(x, y), val_data=(x[:8], y[:8]), quiet=True, epochs=6, batch_size=8, lr=1e-3)
    full = Net()
    fit(full, run_dir=str(tmp_path / "full"), **data)
    with pytest.raises(KeyboardInterrupt):  # in epoch 4: 8 steps and a validation call per epoch
        fit(Net(fail_at=31), run_dir=str(tmp_path / "resumed"), **data)
    assert torch.load(tmp_path / "resumed/checkpoint.pt", weights_only=True)["epoch"] == 3
    resumed = Net()
    fit(resumed, run_dir=str(tmp_path / "resumed"), **data)
    scale = torch.load(tmp_path / "full/checkpoint.pt", weights_only=True)["scaler"]["scale"]
    assert scale < 2.0**110  # steps overflowed and were skipped: the scale came down
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k


def test_evaluating_an_unfinished_run_says_so(run_cli, recipe_file, tmp_path):
    """A run killed before it finished (no stop reason in its checkpoint) is scored with a note, and
    so is a file of the same problem generated under other parameters."""
    path = recipe_file(train__epochs=2)
    assert run_cli("run", str(path), "--out", "runs/a", "--quiet")[0] == 0
    code, _, err = run_cli("eval", "runs/a")
    assert code == 0 and "has not finished training" not in err
    ckpt = tmp_path / "runs/a/checkpoint.pt"
    state = torch.load(ckpt, weights_only=False)
    state.update(epoch=1, stop_reason="")
    torch.save(state, ckpt)
    code, _, err = run_cli("eval", "runs/a")
    assert code == 0 and "'runs/a' has not finished training (it was stopped, or is still running; its last checkpoint: epoch 1)" in err, err
    assert "the metrics of that checkpoint's weights" in err
    state.update(lbfgs_iterations=3, best_model=state["model"], best_epoch=1)  # L-BFGS rows follow the epochs
    torch.save(state, ckpt)
    code, _, err = run_cli("eval", "runs/a")
    assert "its last checkpoint: epoch 4); these are the metrics of its best weights so far (epoch 1)" in err, err
    # data of the same problem under other parameters is scored too, with a note that names them
    assert run_cli("generate", "heat_1d", "--n", "4", "--resolution", "32", "--seed", "5", "--set", "nt=2",
                   "--set", "nu=0.05", "--out", "other.h5", "--quiet")[0] == 0
    code, _, err = run_cli("eval", "runs/a", "--data", "other.h5")
    assert code == 0 and "other parameters than the training data: nu = 0.05 (trained on 0.02)" in err, err


def test_a_test_file_of_another_problem_is_refused(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for problem, name in (("heat_1d", "heat.h5"), ("burgers_1d", "burgers.h5")):
        assert run_cli("generate", problem, "--n", "4", "--resolution", "32", "--seed", "0", "--set",
                       "solve_resolution=64", "--set", "t_final=0.1", "--out", name, "--quiet")[0] == 0
    from pdekit.recipes import load_recipe

    with pytest.raises(ConfigError, match="data.file holds burgers_1d data and data.test_file heat_1d data"):
        load_recipe("burgers_fno", quick=True, overrides=["data.file=burgers.h5", "data.test_file=heat.h5",
                                                          "data.n_train=2", "data.n_val=1", "data.n_test=1",
                                                          "eval.resolutions=[]"])
    # the training file again (its first samples would test: training samples, reported as disjoint)
    with pytest.raises(ConfigError, match=r"data.test_file is data.file \(burgers.h5\): its test samples"):
        load_recipe("burgers_fno", quick=True, overrides=["data.file=burgers.h5", f"data.test_file={tmp_path}/burgers.h5",
                                                          "data.n_train=2", "data.n_val=1", "data.n_test=1",
                                                          "eval.resolutions=[]"])


def test_a_deeponet_run_of_an_older_pdekit_is_evaluated_as_it_was_trained(tmp_path, monkeypatch):
    """DeepONet read every grid as nodes before grid revision 2 (now periodic data as periodic): a
    checkpoint without the revision is rebuilt on nodes, so it is scored as it was trained, and a
    resume, which would go on training under the other reading, is refused."""
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe
    from pdekit.train.supervised import load_trained

    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    raw = json.loads(json.dumps(TINY))
    raw["model"] = {"name": "deeponet", "sensors": 16, "branch_layers": [16], "trunk_layers": [16], "basis": 8}
    raw["train"]["epochs"], raw["eval"] = 1, {"solver_ladder": False, "timing_samples": 2, "plot_samples": 1}
    run = str(tmp_path / "run")
    run_recipe(load_recipe(raw), run, quiet=True)
    assert load_trained(run)[0].model.periodic  # heat_1d is periodic
    state = torch.load(os.path.join(run, "checkpoint.pt"), weights_only=False)
    assert state.pop("grid_revision") == 3
    torch.save(state, os.path.join(run, "checkpoint.pt"))  # as an older pdekit wrote it
    assert not load_trained(run)[0].model.periodic
    with pytest.raises(DataFileError, match="older pdekit whose DeepONet read the data's grid differently"):
        run_recipe(load_recipe(raw), run, quiet=True)


@pytest.mark.parametrize("name, data, now, before", [
    ("unet", {}, "circular", "zeros"),  # heat_1d: periodic
    ("resnet", {"problem": "darcy_2d", "resolution": 9, "params": {"solve_resolution": 9}}, "zeros", "circular"),
])
def test_convolutions_pad_as_the_grid_wants_and_older_runs_as_they_were_trained(tmp_path, monkeypatch, name, data,
                                                                                 now, before):
    """The U-Net and ResNet pad circularly on periodic data and with zeros on nodes (padding_mode
    "auto"); before grid revision 3 they padded with zeros and circularly on every grid. Such a
    checkpoint is rebuilt with its padding, so it is scored as it was trained; it resumes only
    where the padding is the same now (given in the config, or the old default)."""
    from pdekit.models import build_model
    from pdekit.models.registry import as_trained
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe
    from pdekit.train.supervised import load_trained

    assert build_model({"name": name}, 1, 1, 1, "nodes").padding_mode == "zeros"
    assert build_model({"name": name, "padding_mode": "zeros"}, 1, 1, 1, "periodic").padding_mode == "zeros"
    for grid in ("nodes", "periodic"):
        config, same = as_trained({"name": name}, grid, {"grid_revision": 2})
        assert build_model(config, 1, 1, 1, same).padding_mode == before and same == grid
    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))

    def padding(model):  # of every convolution wider than one point
        return {m.padding_mode for m in model.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)
                and max(m.kernel_size) > 1}

    def old_run(folder, **model):  # one epoch, then its checkpoint as a pdekit before revision 3 wrote it
        raw = json.loads(json.dumps(TINY))
        raw["data"].update(data)
        raw["model"] = {"name": name, **({"hidden": 4, "channel_mults": [1, 2]} if name == "unet" else
                                         {"width": 4, "depth": 1}), **model}
        raw["train"]["epochs"], raw["eval"] = 1, {"solver_ladder": False, "timing_samples": 2, "plot_samples": 1}
        run = str(tmp_path / folder)
        run_recipe(load_recipe(raw), run, quiet=True)
        state = torch.load(os.path.join(run, "checkpoint.pt"), weights_only=False)
        state["grid_revision"] = 2
        torch.save(state, os.path.join(run, "checkpoint.pt"))
        return run, raw

    run, raw = old_run("auto")
    state = torch.load(os.path.join(run, "checkpoint.pt"), weights_only=False)
    assert padding(build_model(raw["model"], 1, 1, state["ndim"], state["grid"])) == {now}  # what it trained with
    assert padding(load_trained(run)[0].model) == {before}  # as an older pdekit trained it
    with pytest.raises(DataFileError, match=f"older pdekit whose {type(load_trained(run)[0].model).__name__} read"):
        run_recipe(load_recipe(raw), run, quiet=True)  # would go on training with the other padding
    run, raw = old_run("given", padding_mode=now)  # the padding in the config: the same then and now
    run_recipe(load_recipe(raw), run, quiet=True)  # taken up again (finished: scored again)
    assert padding(load_trained(run)[0].model) == {now}


def test_a_run_folder_of_another_recipe_is_refused_before_any_data_is_made(tmp_path, monkeypatch, capsys):
    """The refusal came from the trainer, after the new recipe's train, validation and test data
    had been solved (minutes for a full recipe); likewise a time index the data do not store. A
    rerun of the same finished run says that it trains nothing (it was silent)."""
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe

    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    raw = json.loads(json.dumps(TINY))
    raw["train"]["epochs"], raw["eval"] = 1, {"solver_ladder": False, "timing_samples": 2, "plot_samples": 1}
    run = str(tmp_path / "run")
    run_recipe(load_recipe(raw), run, quiet=True)
    capsys.readouterr()
    run_recipe(load_recipe(raw), run, quiet=False)
    assert "holds a finished run (Adam finished its 1 epochs); nothing to train" in capsys.readouterr().err
    cached = sorted(os.listdir(tmp_path / "data"))
    raw["data"]["seed"] = 1
    with pytest.raises(PdekitError, match=r"holds a run of another recipe or config \(data.seed: 0 in the saved run"):
        run_recipe(load_recipe(raw), run, quiet=True)
    assert sorted(os.listdir(tmp_path / "data")) == cached  # nothing solved for the refused run
    # a PINN recipe in this folder is refused before it writes: it replaced recipe.json, and the
    # folder's own run was then refused
    recorded = (tmp_path / "run/recipe.json").read_text()
    pinn = load_recipe("burgers_pinn", quick=True, overrides=["train.epochs=2", "train.lbfgs_steps=0"])
    with pytest.raises(PdekitError, match="holds a run of another recipe or config"):
        run_recipe(pinn, run, quiet=True)
    assert (tmp_path / "run/recipe.json").read_text() == recorded
    (tmp_path / "run/recipe.json").write_text('{"name": ')  # cut short (written whole now)
    with pytest.raises(PdekitError, match="recipe.json' is not a readable recipe"):
        run_recipe(pinn, run, quiet=True)
    raw["data"]["target_time"] = 5
    with pytest.raises(ConfigError, match=r"data.target_time = 5 is outside the 2 stored times of heat_1d"):
        load_recipe(raw)


def test_evaluating_with_an_empty_cache_solves_only_the_test_side(tmp_path, monkeypatch):
    """`pdekit eval` with the data cache emptied solved the training and validation splits again
    (minutes for a full recipe) although it scores the test split only."""
    import shutil

    from pdekit.pipeline import evaluate_run, run_recipe
    from pdekit.recipes import load_recipe

    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    raw = json.loads(json.dumps(TINY))
    raw["train"]["epochs"] = 1
    raw["eval"] = {"solver_ladder": False, "timing_samples": 2, "plot_samples": 1, "resolutions": [64]}
    run_recipe(load_recipe(raw), str(tmp_path / "run"), quiet=True)
    made = sorted(os.listdir(tmp_path / "data"))
    assert len(made) == 4  # train, validation, test, test at 64 points
    shutil.rmtree(tmp_path / "data")
    evaluate_run(str(tmp_path / "run"))
    again = sorted(os.listdir(tmp_path / "data"))
    assert len(again) == 2 and set(again) < set(made)  # the test split and its 64-point copy, the same files


def test_evaluating_on_a_file_of_training_samples_says_so(tmp_path, monkeypatch):
    """`pdekit eval RUN --data FILE --report DIR` on samples the model trained on reported them as
    "the test split" with the run's trained resolution; now the report names the file and says
    which of its samples trained the model, and at what resolution it was trained."""
    from pdekit.data.generate import generate
    from pdekit.pipeline import evaluate_run, run_recipe
    from pdekit.problems import get_problem
    from pdekit.recipes import load_recipe

    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    raw = json.loads(json.dumps(TINY))
    raw["train"]["epochs"], raw["eval"] = 1, {"solver_ladder": False, "timing_samples": 2, "plot_samples": 1}
    run_recipe(load_recipe(raw), str(tmp_path / "run"), quiet=True)
    seen = get_problem("heat_1d").from_params(64, raw["data"]["params"])
    generate(seen, 6, 0, str(tmp_path / "seen.h5"), quiet=True)  # samples 0..5 of seed 0: training samples
    results = evaluate_run(str(tmp_path / "run"), data=str(tmp_path / "seen.h5"), report_dir=str(tmp_path / "rep"))
    assert results["data_file"] == str(tmp_path / "seen.h5") and len(results["data_notes"]) == 2
    text = (tmp_path / "rep/report.md").read_text()
    assert f"On '{tmp_path / 'seen.h5'}' the surrogate's" in text and "On the test split" not in text
    assert "holds samples 0 .. 5 of seed 0, of which 0 .. 5 trained or validated this model" in text
    assert "stored at resolution 64; the model was trained at 32" in text


def test_a_misspelled_section_gets_a_suggestion():
    from pdekit.recipes import load_recipe

    raw = json.loads(json.dumps(TINY))
    raw["trian"] = raw.pop("train")
    with pytest.raises(ConfigError, match="unknown recipe key 'trian' \\(did you mean 'train'\\?\\) for an operator recipe"):
        load_recipe(raw)


def test_a_run_saved_before_a_recipe_key_was_added_still_resumes():
    """data.grid joined the data section (written with every default): a run saved before it was
    refused as another recipe ("data.grid: absent in the saved run"). At its default it counts as
    absent; set to anything else it is another run."""
    from pdekit.recipes import load_recipe
    from pdekit.train.trainer import _same_run

    now = load_recipe("burgers_fno", quick=True).to_json()
    old = json.loads(now)
    del old["data"]["grid"]
    saved = json.dumps(old, sort_keys=True)
    assert saved != now and _same_run(saved, now)
    assert not _same_run(saved, load_recipe("burgers_fno", quick=True, overrides=["data.grid=nodes"]).to_json())
    assert not _same_run(saved, load_recipe("burgers_fno", quick=True, overrides=["data.n_train=9"]).to_json())


def test_the_h1_loss_takes_differences_on_the_data_grid(tmp_path, monkeypatch):
    """A recipe's h1 loss differences heat_1d's periodic data around the period (not one-sided at
    its ends, as on nodes)."""
    import pdekit.train.supervised as supervised
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe

    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    grids, make_loss = [], supervised.make_loss
    monkeypatch.setattr(supervised, "make_loss", lambda *args: grids.append(args[2]) or make_loss(*args))
    raw = json.loads(json.dumps(TINY))
    raw["train"].update(epochs=1, loss="h1")
    raw["eval"] = {"solver_ladder": False, "timing_samples": 2, "plot_samples": 1}
    run_recipe(load_recipe(raw), str(tmp_path / "run"), quiet=True)
    assert grids == ["periodic"]


def test_ctrl_c_before_the_first_checkpoint_leaves_no_run_behind(tmp_path, monkeypatch):
    """Interrupted before anything was saved, a new run folder is taken back whole: its recipe.json
    refused a corrected command in the same folder, with no work in it to keep."""
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe
    from pdekit.train.trainer import Trainer

    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    raw = json.loads(json.dumps(TINY))
    raw["train"]["epochs"], raw["eval"] = 1, {"solver_ladder": False, "timing_samples": 2, "plot_samples": 1}
    real = Trainer.fit

    def interrupted(self):
        os.makedirs(os.path.join(self.run_dir, "tensorboard"))  # (train.tensorboard writes before training)
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(load_recipe(raw), str(tmp_path / "run"), quiet=True)
    assert not (tmp_path / "run").exists()
    monkeypatch.setattr(Trainer, "fit", real)
    raw["train"]["lr"] = 1e-3  # the corrected command
    run_recipe(load_recipe(raw), str(tmp_path / "run"), quiet=True)


def test_a_rewritten_data_file_does_not_resume_or_rescore_the_old_run(run_cli, tmp_path, monkeypatch):
    """The recipe names data.file only: a file rewritten with other data (here another seed) scored
    the finished run's old weights on it and overwrote its record, as if it had trained there."""
    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)

    def write(seed):
        code, _, err = run_cli("generate", "heat_1d", "--n", "40", "--resolution", "32", "--set", "nt=2", "--set",
                               "nu=0.02", "--seed", str(seed), "--out", f"f{seed}.h5", "--quiet")
        assert code == 0, err
        os.replace(f"f{seed}.h5", "f.h5")

    write(0)
    raw = json.loads(json.dumps(TINY))
    raw["data"] = {"file": "f.h5", "n_train": 30, "n_val": 4, "n_test": 6}
    raw["train"]["epochs"], raw["eval"] = 1, {"solver_ladder": False, "timing_samples": 2, "plot_samples": 1}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(raw))
    assert run_cli("run", "r.yaml", "--out", "run", "--quiet")[0] == 0
    assert run_cli("run", "r.yaml", "--out", "run", "--quiet")[0] == 0  # the same file: the finished run
    write(1)
    record = (tmp_path / "run/metrics.json").read_bytes()
    code, _, err = run_cli("run", "r.yaml", "--out", "run", "--quiet")
    assert code == 2 and "was trained on other data than the file holds now" in err, err
    assert (tmp_path / "run/metrics.json").read_bytes() == record
    code, _, err = run_cli("eval", "run")  # its test split is no longer the held-out one
    assert code == 2 and "was trained on other data than 'f.h5' gives now (rewritten since" in err, err


def test_an_unfinished_run_recorded_with_a_key_refused_since_still_resumes(run_cli, recipe_file, tmp_path):
    """An older pdekit accepted and ignored data.test_file without data.file, and train.step_size
    under a cosine schedule; its run (unfinished or not), rerun with them taken out as they must be
    now, was refused as a run of another recipe (or config)."""
    path = recipe_file(train__epochs=1)
    assert run_cli("run", path, "--out", "runs/a", "--quiet")[0] == 0
    ckpt, record = tmp_path / "runs/a/checkpoint.pt", tmp_path / "runs/a/recipe.json"
    state = torch.load(ckpt, weights_only=True)
    old = json.loads(state["recipe"])
    old["data"]["test_file"] = "t.h5"
    old["train"]["step_size"] = 10  # (under the cosine schedule: of no effect)
    state["recipe"] = json.dumps(old, sort_keys=True)
    config = json.loads(state["config"])
    config["trainer"]["step_size"] = 10  # the trainer's settings record it too
    state["config"] = json.dumps(config, sort_keys=True)
    torch.save(state, ckpt)
    record.write_text(json.dumps({**json.loads(record.read_text()), "data": old["data"], "train": old["train"]}))
    code, _, err = run_cli("run", recipe_file(train__epochs=1), "--out", "runs/a", "--quiet")  # (a resume checks alike)
    assert code == 0, err
    assert torch.equal(torch.load(ckpt, weights_only=True)["model"]["lift.0.weight"], state["model"]["lift.0.weight"])
    code, _, err = run_cli("run", recipe_file(train__epochs=1, train__lr=1e-3), "--out", "runs/a", "--quiet")
    assert code == 2 and "train.lr: 0.003 in the saved run, 0.001 now" in err, err


def test_a_recipe_without_a_resolution_runs_to_its_report(tmp_path, monkeypatch):
    """data.resolution 0 (unset) is the problem's own: the report asked the problem for resolution 0
    and the finished run failed before writing it."""
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe

    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    raw = json.loads(json.dumps(TINY))
    del raw["data"]["resolution"], raw["eval"]["resolutions"]
    raw["train"]["epochs"], raw["eval"] = 1, {"solver_ladder": False, "timing_samples": 2, "plot_samples": 1}
    results = run_recipe(load_recipe(raw), str(tmp_path / "run"), quiet=True)
    assert results["resolution"] == 256 and (tmp_path / "run/report.md").exists()  # heat_1d's own


def test_the_speed_headline_says_when_only_the_datas_solver_setting_was_timed(run_cli, recipe_file):
    """With eval.solver_ladder off, 'at most 40x' for a surrogate far less accurate than the solver
    read as a result; the bound says it rests on the data's setting alone."""
    path = recipe_file(train__epochs=1, eval__solver_ladder=False)
    code, out, err = run_cli("run", path, "--out", "runs/a", "--quiet")
    assert code == 0, err
    assert re.search(r"speed-up at equal accuracy +at most [\d.]+x \(only the data's solver setting timed\)", out), out
