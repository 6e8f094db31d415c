"""Bad input gets one clear message, exit code 2, no traceback, and nothing written is lost."""

import hashlib
import json
import os
import subprocess
import sys

import pytest
import yaml
import torch

SMALL_BURGERS = ["burgers_1d", "--n", "2", "--resolution", "32", "--seed", "0",
                 "--set", "solve_resolution=64", "--set", "t_final=0.1"]


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _refused(result, *fragments):
    code, out, err = result
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and err.count("error:") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_list_and_show(run_cli):
    code, out, _ = run_cli("list")
    assert code == 0 and "burgers_1d" in out and "darcy_2d" in out and "navier_stokes_2d" in out
    lines = out.splitlines()
    models = lines[lines.index("models (parameters of the default config):") + 1 :][:15]
    assert len({line.index("(") for line in models}) == 1, models  # aligned (spectral_refiner pushed its row out)
    recipes = lines[[i for i, line in enumerate(lines) if line.startswith("recipes (")][0] + 1 :]
    assert max(len(line) for line in recipes) <= 130  # descriptions of 600 characters: their first part
    code, out, _ = run_cli("show", "burgers_1d")
    assert code == 0 and "nu" in out and "0.1" in out and "solve_resolution" in out and "8192" in out
    assert "per sample: nu, drawn log-uniformly from [nu, nu_max]" in out
    code, out, _ = run_cli("show", "fno")  # a model: every option, its default and its docstring's help
    assert code == 0 and "  hidden_channels      default 64            channels inside the Fourier layers" in out
    assert "  projection_channels  default 128           hidden width of the projection MLP, hidden_channels to" in out
    assert "in_channels" not in out  # set from the data
    code, out, _ = run_cli("show", "specboost")
    assert "  padding              default 0.0           of every FNO" in out
    code, out, _ = run_cli("show", "burgers_fno")  # a shipped recipe: its YAML, loadable as it is printed
    body = "".join(line + "\n" for line in out.splitlines() if not line.startswith("#"))
    assert code == 0 and yaml.safe_load(body)["model"]["name"] == "fno"


def test_show_a_users_recipe_file_with_its_defaults(run_cli, tmp_path):
    """A user's recipe said nothing of the settings it left out: `pdekit show r.yaml` prints it as
    pdekit reads it, loadable as printed; a bad one gets the recipe's own one-line error."""
    from pdekit.recipes import load_recipe

    (tmp_path / "r.yaml").write_text("name: mine\ndata: {problem: burgers_1d, n_train: 40}\nmodel: {name: fno}\n")
    code, out, _ = run_cli("show", tmp_path / "r.yaml")
    shown = yaml.safe_load(out)
    assert code == 0 and shown["data"]["n_val"] == -1 and shown["train"]["epochs"] == 100 and shown["data"]["n_train"] == 40
    assert load_recipe(shown).to_json() == load_recipe(str(tmp_path / "r.yaml")).to_json()
    (tmp_path / "bad.yml").write_text("name: x\ndata: {problem: burgers_1d}\nmodel: {name: fno, widht: 3}\n")
    code, _, err = run_cli("show", tmp_path / "bad.yml")
    assert code == 2 and "unknown key model.widht" in err


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["show", "burgers_fnoo"], ["'burgers_fnoo' is no problem, model, recipe or file", "did you mean 'burgers_fno'"]),
        (["generate", "burgers", "--n", "1", "--seed", "0", "--out", "x.h5"], ["physics-informed", "burgers_1d"]),
        (["generate", "navier_stokes", "--n", "1", "--seed", "0", "--out", "x.h5"], ["navier_stokes_2d"]),
        (["generate", *SMALL_BURGERS, "--set", "viscosity=0.1", "--out", "x.h5"], ["unknown parameter 'viscosity'", "nu"]),
        (["generate", *SMALL_BURGERS, "--set", "nu=-1", "--out", "x.h5"], ["nu must be positive", "-1"]),
        (["generate", *SMALL_BURGERS, "--set", "nu=abc", "--out", "x.h5"], ["parameter 'nu' of burgers_1d must be a number", "abc"]),
        (["generate", *SMALL_BURGERS, "--set", "ic_scale=nan", "--out", "x.h5"], ["parameter 'ic_scale' of burgers_1d must be a finite number"]),
        (["generate", "burgers_1d", "--n", "1", "--resolution", "16", "--seed", "-1", "--out", "x.h5"],
         ["--seed must be >= 0", "-1"]),
        (["generate", "burgers_1d", "--n", "1", "--resolution", "0", "--seed", "0", "--out", "x.h5"],
         ["unsupported resolution 0", "at least 8"]),
        (["generate", *SMALL_BURGERS, "--out", ""], ["output path is empty"]),
        (["generate", "heat_1d", "--n", "2", "--resolution", "16", "--seed", "0", "--set", "nt=10000000000", "--out",
          "x.h5"], ["a batch of 2 would hold 2.38e+03 GiB", "lower --batch-size, nt"]),
        (["convert", "x.h5", ""], ["output path is empty"]),
        (["generate", *SMALL_BURGERS, "--out", "b.csv"], ["'b.csv' has '.csv', but the file written is HDF5", "'b.h5'"]),
        (["convert", "x.h5", "data"], ["'data' has no suffix", "'.h5' or '.hdf5'"]),
        (["generate", *SMALL_BURGERS, "--set", "nt", "--out", "x.h5"], ["key=value", "nt"]),
        (["generate", "burgers_1d", "--n", "1", "--resolution", "1000", "--seed", "0", "--out", "x.h5"],
         ["unsupported resolution 1000", "8192"]),
        (["generate", "darcy_2d", "--n", "1", "--resolution", "86", "--seed", "0", "--out", "x.h5"],
         ["unsupported resolution 86", "421"]),
        (["generate", "darcy_2d", "--n", "1", "--set", "contrast=1e7", "--seed", "0", "--out", "x.h5"], ["contrast", "1e+07"]),
        (["generate", "darcy_2d", "--n", "1", "--set", "coefficient=gaussian", "--seed", "0", "--out", "x.h5"],
         ["piecewise, lognormal", "gaussian"]),
        (["generate", *SMALL_BURGERS, "--n", "0", "--out", "x.h5"], ["--n must be at least 1"]),
        (["generate", "burgers_1d", "--n", "1", "--resolution", "64", "--seed", "0", "--set", "nu=0.001",
          "--set", "dt=0.05", "--set", "solve_resolution=1024", "--out", "x.h5"], ["dt = 0.05 is unstable", "--set dt="]),
        (["generate", "navier_stokes_2d", "--n", "1", "--resolution", "16", "--seed", "0", "--set", "dt=0.5",
          "--set", "solve_resolution=64", "--out", "x.h5"], ["dt = 0.5 is unstable", "--set dt="]),
    ],
)
def test_bad_input_is_refused_clearly(run_cli, tmp_path, monkeypatch, argv, fragments):
    monkeypatch.chdir(tmp_path)
    _refused(run_cli(*argv), *fragments)
    assert not (tmp_path / "x.h5").exists()


def test_unstable_run_can_be_fixed_and_rerun(run_cli, tmp_path):
    out = tmp_path / "u.h5"
    bad = ["generate", *SMALL_BURGERS, "--set", "nu=0.0001", "--set", "dt=0.1", "--out", out, "--quiet"]
    _refused(run_cli(*bad), "unstable")
    code, _, err = run_cli("generate", *SMALL_BURGERS, "--set", "nu=0.0001", "--set", "dt=0.001", "--out", out, "--quiet")
    assert code == 0, err


def test_existing_file_with_another_config_is_kept(run_cli, tmp_path):
    out = tmp_path / "d.h5"
    assert run_cli("generate", *SMALL_BURGERS, "--out", out, "--quiet")[0] == 0
    before = _digest(out)
    _refused(run_cli("generate", *SMALL_BURGERS, "--set", "nu=0.2", "--out", out), "another config", "nu: 0.1 there, 0.2 here")
    assert _digest(out) == before
    code, text, _ = run_cli("generate", *SMALL_BURGERS, "--out", out)
    assert code == 0 and "nothing to do" in text and _digest(out) == before


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_corrupt_or_foreign_file_is_refused_and_kept(run_cli, tmp_path, damage):
    out = tmp_path / "c.h5"
    assert run_cli("generate", *SMALL_BURGERS, "--out", out, "--quiet")[0] == 0
    data = open(out, "rb").read()
    if damage == "garbage":
        out.write_bytes(b"not an hdf5 file at all" * 10)
        expected = "not a readable HDF5 file"
    elif damage == "truncated":
        out.write_bytes(data[: len(data) // 2])
        expected = "truncated or corrupt"
    else:
        import h5py

        with h5py.File(out, "w") as f:
            f["x"] = [1, 2, 3]
        expected = "not a pdekit dataset"
    before = _digest(out)
    _refused(run_cli("generate", *SMALL_BURGERS, "--out", out), expected, str(out))
    assert _digest(out) == before


def test_real_process_exit_code_and_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pdekit", "generate", "heat_3d", "--n", "1", "--seed", "0",
                             "--out", str(tmp_path / "h.h5")], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "heat_1d" in result.stderr
    assert not os.path.exists(tmp_path / "h.h5")


@pytest.mark.parametrize("out", ["/proc/x.h5", "readonly/x.h5", "a_file/x.h5"])
def test_impossible_output_paths_are_refused_in_one_line(run_cli, tmp_path, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "readonly").mkdir(mode=0o555)
    (tmp_path / "a_file").write_text("x")
    if out.startswith("readonly") and os.access(tmp_path / "readonly", os.W_OK):
        pytest.skip("running as a user who may write anywhere (root): a read-only folder cannot be made here")
    _refused(run_cli("generate", *SMALL_BURGERS, "--out", out), "cannot write")
    _refused(run_cli("run", "burgers_fno", "--quick", "--out", os.path.dirname(out) + "/run"), "cannot write")


def test_a_folder_that_is_not_a_run_is_never_used_or_offered_for_deletion(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "code.py").write_text("print(1)")
    _refused(run_cli("run", "burgers_fno", "--quick", "--out", "src"), "holds other files and no pdekit run")
    assert os.listdir(tmp_path / "src") == ["code.py"]


def test_overrides_get_their_own_default_run_folder():
    from pdekit.pipeline import default_run_dir
    from pdekit.recipes import load_recipe

    plain = load_recipe("darcy_fno", quick=True)
    changed = load_recipe("darcy_fno", quick=True, overrides=["model.width=32"])
    assert default_run_dir(plain) == os.path.join("runs", "darcy_fno-quick")
    assert default_run_dir(changed, ["model.width=32"]) not in (default_run_dir(plain), default_run_dir(changed))
    assert default_run_dir(changed, ["model.width=32"]) != default_run_dir(changed, ["model.width=48"])


def test_eval_of_a_pinn_run(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quick = ["train.adam_steps=20", "train.lbfgs_steps=0", "train.collocation=200"]
    code, _, err = run_cli("run", "burgers_pinn", "--quick", "--out", "p", "--quiet", *quick)
    assert code == 0, err
    record = (tmp_path / "p/metrics.json").read_bytes()
    code, out, err = run_cli("eval", "p", "--json", "e.json")
    assert code == 0, err
    assert json.loads((tmp_path / "e.json").read_text()) == json.loads(record)
    assert (tmp_path / "p/metrics.json").read_bytes() == record


def test_a_data_file_given_as_the_recipe_is_refused_clearly(run_cli, tmp_path):
    (tmp_path / "data.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    _refused(run_cli("run", str(tmp_path / "data.h5")), "is not a YAML recipe", "data.file")


def test_eval_solves_missing_test_data_where_this_machine_can(monkeypatch):
    """A run trained with train.device: cuda, evaluated on a machine without a GPU, solves test data its
    cache lacks on the CPU (resolving the training device refused it before)."""
    from pdekit.pipeline import evaluation_data_device
    from pdekit.recipes import load_recipe

    gpu_run, cpu_run = (load_recipe("burgers_fno", overrides=[f"train.device={d}"]) for d in ("cuda", "cpu"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert evaluation_data_device(gpu_run) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert evaluation_data_device(gpu_run) == "cuda" and evaluation_data_device(cpu_run) == "cpu"


def test_recipe_errors_name_recipe_keys_and_leave_nothing_behind(run_cli, tmp_path, monkeypatch):
    """Inside a recipe, a problem parameter is data.params.<key> (not generate's --set key=), and a run
    refused in its first batch leaves neither a run folder nor an empty cache folder."""
    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    out = tmp_path / "runs" / "r"
    _refused(run_cli("run", "burgers_fno", "--quick", "--out", out, "data.params.dt=0.5", "data.params.nu=0.001"),
             "dt = 0.5 is unstable", "; set data.params.dt=")
    assert not (tmp_path / "runs").exists()
    assert not any(p.name.endswith(".parts") for p in (tmp_path / "data").rglob("*"))
    _refused(run_cli("run", "burgers_fno", "--quick", "--out", out, "data.resolution=1000"),
             "change data.resolution=<value> or data.params.solve_resolution=")
    _refused(run_cli("generate", "burgers_1d", "--n", "1", "--resolution", "1000", "--seed", "0", "--out",
                     tmp_path / "x.h5"), "change --resolution <value> or --set solve_resolution=")


def test_every_model_option_has_help():
    """`pdekit show MODEL` reads each option's help from the class docstring: none may be missing."""
    from pdekit.models import MODELS
    from pdekit.models.registry import DATA_KEYS, model_options, option_help

    for name, cls in MODELS.items():
        helps = option_help(cls)
        assert [k for k in model_options(cls) if k not in DATA_KEYS and not helps.get(k)] == [], name


def test_printed_summary_has_speed_verdict_and_held_out(capsys):
    from pdekit.cli import _print_summary

    rollout = {"recipe": "r", "device": "cpu", "trajectory_rel_l2": 0.1, "rollout_rel_l2": [0.01, 0.2],
               "final_rel_l2": 0.2, "correlation_time": None, "stable": True, "train_seconds": 1.0, "speedup": 0.5,
               "speedup_is": "measured", "speed_verdict": "The solver is 2x faster: 0.1 s per sample."}
    _print_summary(rollout, None)
    out = capsys.readouterr().out
    assert "  speed-up at equal accuracy      0.5x" in out and "0.1 s per trajectory." in out
    _print_summary({**rollout, "speed_verdict": None, "speedup": None}, None)  # eval.solver_ladder off
    assert "speed-up" not in capsys.readouterr().out
    operator = {"recipe": "o", "device": "cpu", "test_rel_l2": 0.01, "median_rel_l2": 0.01, "nrmse": 0.01,
                "params": 10, "train_seconds": 1.0, "model_seconds_per_sample": 1e-3, "solver_seconds_per_sample": 0.1,
                "speedup": 3.0, "resolution_transfer": {}, "speed_verdict": "v",
                "held_out": {"params": {"reynolds": 400}, "rel_l2": 0.035}}
    _print_summary(operator, None)
    assert "  held out (reynolds = 400) rel. L2  0.035" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["generate", "heat_1d", "--set", "ic_tau=0"], "ic_tau must be > 0, got 0.0"),
    (["generate", "kdv_1d", "--set", "ic_amplitude=-1"], "ic_amplitude must be > 0, got -1.0"),
    (["run", "burgers_pinn", "problem.nx=1"], "nx must be >= 2, got 1"),
    (["run", "ks_rollout", "rollout.test_steps=-1"], "rollout.test_steps must be >= 0, got -1"),
    (["run", "burgers_fno", "data.reuse=0"], "data.reuse must be > 0, got 0.0"),
])
def test_a_check_of_several_keys_names_the_one_that_fails(run_cli, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    args = argv + (["--n", "1", "--seed", "0", "--out", "x.h5"] if argv[0] == "generate" else ["--out", "r"])
    _refused(run_cli(*args), message)


def test_progress_bars_in_a_log_file_redraw_rarely():
    """Off a terminal (a batch job's log) a bar redraws every 30 s: a quick run wrote 21 KB of
    carriage-return updates into a log; at a terminal it still redraws ten times a second."""
    import io
    import time

    from pdekit.progress import progress_bar, show_postfix

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, most, least in ((io.StringIO(), 2, 1), (Terminal(), 100, 4)):
        with progress_bar(total=60, file=stream) as bar:
            for i in range(60):  # 0.6 s of updates, each with its figures (the Trainer's every epoch)
                time.sleep(0.01)
                bar.update(1)
                show_postfix(bar, {"loss": f"{1 / (i + 1):.3g}"})
        redraws = stream.getvalue().count("\r")
        assert least <= redraws <= most, (type(stream).__name__, redraws)
        assert "loss=0.0167" in stream.getvalue()  # the last figures, shown when the bar closes
