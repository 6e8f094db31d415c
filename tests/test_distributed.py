"""Distributed training on the CPU: two torchrun processes (gloo) end with identical weights, equal
to a single-process run with the same global batch up to the rounding of the all-reduce."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

SCRIPT = textwrap.dedent('''
    import os, sys
    import torch
    from pdekit.train import fit

    torch.manual_seed(0)
    x = torch.randn(64, 1, 32)
    y = torch.roll(x, 3, dims=-1) + 0.1 * x ** 2  # a shift and a pointwise term: a learnable map
    if os.environ.get("SEED_BY_RANK"):  # each process initializes its own weights (a user's seeding)
        torch.manual_seed(1 + int(os.environ.get("RANK", 0)))
    model = torch.nn.Sequential(torch.nn.Conv1d(1, 16, 5, padding=2, padding_mode="circular"), torch.nn.GELU(),
                                torch.nn.Conv1d(16, 1, 5, padding=2, padding_mode="circular"))
    seen = []  # samples each training forward pass of this process saw
    model.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].shape[0]) if m.training else None)
    run = sys.argv[2] if len(sys.argv) > 2 else None
    stop = int(os.environ.get("STOP_AFTER", 0))  # a kill after this epoch's checkpoint (0: none)

    def interrupt(trainer, row):
        if row["epoch"] == stop:
            raise KeyboardInterrupt

    from pdekit.train import SupervisedTask, Trainer, make_train_config

    n, batch = int(os.environ.get("N_TRAIN", 48)), int(os.environ.get("BATCH", 8))
    cfg, task_cfg = make_train_config(SupervisedTask, dict(epochs=4, batch_size=batch, lr=3e-3, device="cpu", threads=1))
    task = SupervisedTask((x[:n], y[:n]), (x[48:], y[48:]), task_cfg)
    trained = task.result(Trainer(model, task, cfg, run, quiet=True, callbacks=[interrupt]).fit())
    rank = int(os.environ.get("RANK", 0))
    torch.save({"weights": model.state_dict(), "history": trained.history, "seen": sum(seen)},
               os.path.join(sys.argv[1], f"rank{rank}.pt"))
''')


def _run(args, tmp_path, env=None):
    import os

    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr[-3000:]


def _on_one_and_two_processes(tmp_path, text, env=None, one_args=(), two_args=()):
    """Run the script ``text`` in one process (results in tmp_path/one) and in two torchrun
    processes (tmp_path/two); the args follow the results folder."""
    script = tmp_path / "script.py"
    script.write_text(text)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    _run([sys.executable, str(script), str(tmp_path / "one"), *one_args], tmp_path, env)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
          str(tmp_path / "two"), *two_args], tmp_path, env)


def test_two_gloo_processes_match_one_process(tmp_path):
    _on_one_and_two_processes(tmp_path, SCRIPT, two_args=[str(tmp_path / "run")])
    one = torch.load(tmp_path / "one/rank0.pt", weights_only=True)
    r0, r1 = (torch.load(tmp_path / f"two/rank{r}.pt", weights_only=True) for r in (0, 1))
    for k in one["weights"]:
        assert torch.equal(r0["weights"][k], r1["weights"][k]), k  # the processes never drift apart
        torch.testing.assert_close(r0["weights"][k], one["weights"][k], rtol=1e-5, atol=1e-6)
    # the metrics rows are the whole batch's (reduced over processes), as one process computes them
    for a, b in zip(r0["history"], one["history"]):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-5 * b["train_loss"] and a["epoch"] == b["epoch"]
    assert (tmp_path / "run/checkpoint.pt").exists() and (tmp_path / "run/metrics.csv").exists()


def test_every_process_starts_from_the_first_ones_weights(tmp_path):
    """Processes that initialize their weights differently train one model, from the first
    process's weights (as DistributedDataParallel does): they kept their own and drifted apart."""
    _on_one_and_two_processes(tmp_path, SCRIPT, env={"SEED_BY_RANK": "1"})
    one = torch.load(tmp_path / "one/rank0.pt", weights_only=True)
    r0, r1 = (torch.load(tmp_path / f"two/rank{r}.pt", weights_only=True) for r in (0, 1))
    for k in one["weights"]:
        assert torch.equal(r0["weights"][k], r1["weights"][k]), k
        torch.testing.assert_close(r0["weights"][k], one["weights"][k], rtol=1e-5, atol=1e-6)
    assert r0["seen"] == r1["seen"] == one["seen"] // 2 == 4 * 48 // 2  # each process did half the work


def test_uneven_shares_of_a_batch_weigh_by_their_samples(tmp_path):
    """45 samples in batches of 7 on two processes: shares of 4 and 3 (2 and 1 in the last batch).
    Each process's mean loss is weighted by its share, so the steps are those of one process (equal
    weights gave weights 4e-4 apart)."""
    _on_one_and_two_processes(tmp_path, SCRIPT, {"N_TRAIN": "45", "BATCH": "7"})
    one = torch.load(tmp_path / "one/rank0.pt", weights_only=True)
    two = torch.load(tmp_path / "two/rank0.pt", weights_only=True)
    for k in one["weights"]:
        torch.testing.assert_close(two["weights"][k], one["weights"][k], rtol=1e-5, atol=1e-6)


def test_a_killed_two_process_run_resumes_with_one_process(tmp_path):
    """The checkpoint holds the global state and every process's batches come from the global
    order, so a run of two processes killed after epoch 2 resumes in one process and ends as the
    uninterrupted two-process run does (up to the rounding of the all-reduce)."""
    import os

    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    for folder in ("full", "resumed"):
        (tmp_path / folder).mkdir()
    two = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    _run(two + [str(tmp_path / "full"), str(tmp_path / "run-full")], tmp_path)
    killed = subprocess.run(two + [str(tmp_path / "resumed"), str(tmp_path / "run")], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "STOP_AFTER": "2"})
    assert killed.returncode != 0 and torch.load(tmp_path / "run/checkpoint.pt", weights_only=True)["epoch"] == 2
    _run([sys.executable, str(script), str(tmp_path / "resumed"), str(tmp_path / "run")], tmp_path)
    full = torch.load(tmp_path / "full/rank0.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed/rank0.pt", weights_only=True)
    for k in full["weights"]:
        torch.testing.assert_close(resumed["weights"][k], full["weights"][k], rtol=1e-5, atol=1e-6)
    assert [r["epoch"] for r in resumed["history"]] == [1, 2, 3, 4]
    for run, processes in (("run-full", [2]), ("run", [2, 1])):  # recorded for train_seconds' sake
        assert json.loads(torch.load(tmp_path / run / "checkpoint.pt", weights_only=True)["processes"]) == processes


def test_pdekit_train_nproc_starts_torchrun_and_reports_once(tmp_path):
    import os

    args = [sys.executable, "-m", "pdekit", "train", "burgers_fno", "--quick", "--quiet", "--nproc", "2",
            "train.epochs=1", "data.n_train=8", "data.n_test=2", "--out", str(tmp_path / "run")]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PDEKIT_DATA": str(tmp_path / "data")})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("trained burgers_fno-quick") == 1 and (tmp_path / "run/checkpoint.pt").exists()
    # train, validation, test and the test at two transfer resolutions, each generated in shards, once
    assert len(list((tmp_path / "data").glob("*.h5"))) == 5 and not list((tmp_path / "data").glob("*.parts"))


PINN_SCRIPT = textwrap.dedent('''
    import os, sys
    import torch
    from pdekit.pinn.run import train_pinn_recipe
    from pdekit.recipes import load_recipe

    recipe = load_recipe("burgers_pinn", quick=True, overrides=[
        "problem.hard=false", "model.width=10", "model.depth=3", "train.collocation=301",
        "train.condition_points=41", "train.epochs=30", "train.lbfgs_steps=15", "train.balancing=lra",
        "train.balance_every=10", "train.resample=rar", "train.resample_every=10", "train.rar_points=20",
        "train.log_every=5", "train.max_seconds=0", "train.threads=1"])
    bench, result = train_pinn_recipe(recipe, sys.argv[2], quiet=True)
    rank = int(os.environ.get("RANK", 0))
    torch.save({"weights": bench.pinn.state_dict(), "history": result["history"], "processes": result["processes"]},
               os.path.join(sys.argv[1], f"rank{rank}.pt"))
''')


def test_pinn_with_lbfgs_on_two_processes_matches_one_process(tmp_path):
    """Collocation points split across two processes (uneven shares of 301 points; the conditions'
    points stay whole), learning-rate annealing, RAR and L-BFGS in float64: both processes end with
    the same weights, those of one process up to the rounding of the all-reduce (float32 in the Adam
    phase: measured loss differences of at most 5e-7 relative; unscaled shares would differ by ~3e-3)."""
    _on_one_and_two_processes(tmp_path, PINN_SCRIPT, one_args=[str(tmp_path / "run-one")],
                              two_args=[str(tmp_path / "run-two")])
    one = torch.load(tmp_path / "one/rank0.pt", weights_only=True)
    r0, r1 = (torch.load(tmp_path / f"two/rank{r}.pt", weights_only=True) for r in (0, 1))
    assert [row["phase"] for row in r0["history"]][-1] == "lbfgs"
    assert one["processes"] == [1] and r0["processes"] == r1["processes"] == [2]  # (train_processes in metrics)
    for k in one["weights"]:
        assert torch.equal(r0["weights"][k], r1["weights"][k]), k
        torch.testing.assert_close(r0["weights"][k], one["weights"][k], rtol=1e-4, atol=1e-6)
    for a, b in zip(r0["history"], one["history"]):
        assert a["epoch"] == b["epoch"] and abs(a["train_loss"] - b["train_loss"]) <= 2e-6 * b["train_loss"]


ONLINE_SCRIPT = textwrap.dedent('''
    import json, os, sys
    import torch
    from pdekit.data.dataset import load_pairs
    from pdekit.data.generate import generate
    from pdekit.data.online import OnlinePairs
    from pdekit.problems import get_problem
    from pdekit.train import SupervisedTask, Trainer, make_train_config
    from pdekit.train.trainer import distributed

    rank, world = distributed()
    problem = get_problem("heat_1d").from_params(32, {"nt": 2, "nu": 0.02})
    if rank == 0:
        generate(problem, 6, 0, os.path.join(sys.argv[1], "val.h5"), quiet=True, first=24)
    torch.distributed.barrier()
    x_val, y_val, _ = load_pairs(os.path.join(sys.argv[1], "val.h5"))
    torch.manual_seed(0)
    model = torch.nn.Conv1d(1, 1, 5, padding=2, padding_mode="circular")
    cfg, task_cfg = make_train_config(SupervisedTask, dict(epochs=3, batch_size=8, lr=3e-3, device="cpu", threads=1))
    source = OnlinePairs(problem, 0, 24, 6, 8, buffer=12, workers=1, chunk=4, rank=rank, world=world)
    task = SupervisedTask(source, (x_val, y_val), task_cfg)
    try:
        Trainer(model, task, cfg, sys.argv[2], quiet=True).fit()
    finally:
        source.close()
    torch.save({"weights": model.state_dict(), "indices": [source.index(p) for p in source.inserted],
                "normalizer": torch.stack([task.x_norm.mean, task.x_norm.std, task.y_norm.mean, task.y_norm.std])},
               os.path.join(sys.argv[1], f"rank{rank}.pt"))
''')


def test_online_training_on_two_processes(tmp_path):
    """Each process has its own solver worker and a disjoint stream of sample indices, never the
    validation or test ones; the weights stay equal and the checkpoint holds both buffers."""
    import json

    script = tmp_path / "online.py"
    script.write_text(ONLINE_SCRIPT)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
          str(tmp_path), str(tmp_path / "run")], tmp_path)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for k in r0["weights"]:
        assert torch.equal(r0["weights"][k], r1["weights"][k]), k
    assert torch.equal(r0["normalizer"], r1["normalizer"])  # fitted on both first fills, in both processes
    # 8 first-fill samples and 4 per step (half of each batch of 8), 3 steps per epoch, 3 epochs
    assert len(r0["indices"]) == len(r1["indices"]) == 8 + 3 * 3 * 4
    assert not set(r0["indices"]) & set(r1["indices"]) and not (set(r0["indices"]) | set(r1["indices"])) & set(range(24, 30))
    state = torch.load(tmp_path / "run/checkpoint.pt", weights_only=True)
    assert [s["next"] for s in json.loads(state["online_state"])] == [44, 44]
    last = json.loads(state["history"])[-1]  # both processes' (they were rank 0's)
    # (each buffer at its watermark between steps: 12 less a share of 4)
    assert last["fresh_samples"] == 88 and last["buffer_fill"] == 16 and last["solver_samples_per_s"] > 0


def _processes_naming(text):
    """Process ids whose command line contains ``text`` (Linux /proc)."""
    import os

    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if text.encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            pass  # the process ended while we looked
    return found


def test_a_killed_launcher_takes_its_training_processes_along(tmp_path):
    """SIGKILL of `pdekit train --nproc 2` (a job scheduler's timeout, say) ends torchrun and its
    processes too, instead of leaving them writing into the run folder beside the next command's."""
    import os
    import signal
    import time

    if not sys.platform.startswith("linux"):
        pytest.skip("the launcher's children follow it through Linux's PR_SET_PDEATHSIG")
    out = str(tmp_path / "killed-run")
    launcher = subprocess.Popen([sys.executable, "-m", "pdekit", "train", "burgers_fno", "--quick", "--quiet",
                                 "--nproc", "2", "train.epochs=1000", "data.n_train=8", "data.n_test=2",
                                 "train.threads=1", "--out", out],
                                env={**os.environ, "PDEKIT_DATA": str(tmp_path / "data")},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(_processes_naming(out)) < 4 and time.time() < deadline:  # launcher, torchrun, two ranks
        time.sleep(0.5)
    assert len(_processes_naming(out)) >= 4, "the training processes never started"
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    deadline = time.time() + 30
    while _processes_naming(out) and time.time() < deadline:
        time.sleep(0.5)
    left = _processes_naming(out)
    for pid in left:  # (do not leave them running after a failure either)
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} training processes outlived their launcher"


def test_nproc_refuses_what_every_process_would_before_starting_them(run_cli, tmp_path, monkeypatch):
    """A CUDA device on a CPU machine, or a batch smaller than the processes: one line, exit 2, no
    torchrun started (each process printed it, glued to torchrun's traceback, exit 1)."""
    monkeypatch.chdir(tmp_path)
    for override, message in (("train.device=cuda", "no CUDA device is available"),
                              ("train.batch_size=1", "train.batch_size = 1 gives no sample to some of the 2 processes"),
                              ("data.n_train=1", "data.n_train = 1 gives no sample to some of the 2 processes")):
        if override.endswith("cuda") and torch.cuda.is_available():
            continue
        code, _, err = run_cli("train", "burgers_fno", "--quick", "--nproc", "2", override, "--out", "r")
        assert code == 2 and err.count("error:") == 1 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "r").exists()


ROLLOUT_SCRIPT = textwrap.dedent('''
    import os, sys
    import torch
    from pdekit.data.trajectories import windows
    from pdekit.train import fit
    from pdekit.train.rollout import Autoregressive, RolloutTask

    g = torch.Generator().manual_seed(0)
    u = torch.randn(9, 3, 1, 16, generator=g)
    u = torch.cumsum(0.3 * u, dim=1)  # nine short random walks: 9 windows of 1 input and 2 targets
    torch.manual_seed(0)
    model = Autoregressive(torch.nn.Conv1d(1, 1, 5, padding=2, padding_mode="circular"), channels=1, dt=0.1)
    fit(model, RolloutTask(windows(u, 1, 2), windows(u[:2], 1, 2)), quiet=True, epochs=1, lbfgs_steps=6,
        batch_size=9, mode="unrolled", unroll=2, device="cpu", threads=1)
    torch.save(model.state_dict(), os.path.join(sys.argv[1], f"rank{os.environ.get('RANK', 0)}.pt"))
''')


def test_lbfgs_on_uneven_shares_of_windows_matches_one_process(tmp_path):
    """L-BFGS on nine rollout windows split 5 and 4 over two processes: each process's loss is
    weighted by its share, so both take one process's steps (equal weights: 1.5e-2 apart)."""
    _on_one_and_two_processes(tmp_path, ROLLOUT_SCRIPT)
    one = torch.load(tmp_path / "one/rank0.pt", weights_only=True)
    r0, r1 = (torch.load(tmp_path / f"two/rank{r}.pt", weights_only=True) for r in (0, 1))
    for k in one:
        assert torch.equal(r0[k], r1[k]), k
        torch.testing.assert_close(r0[k], one[k], rtol=1e-5, atol=1e-6)


def test_the_launcher_says_a_refusal_in_a_process_as_that_process_did(tmp_path):
    """A process under `--nproc` that refuses (one line, exit 2): exit 2 without torchrun's log lines
    and traceback (it was exit 1 under ChildFailedError's), also where another process failed in the
    same second (waiting on it in a collective, say); an interrupted one (130) likewise; any other
    failure keeps them."""
    script = tmp_path / "fail.py"  # argv: each rank's exit status (or a sleep for a still-running one)
    script.write_text("import os, sys, time\n"
                      "code = sys.argv[1 + int(os.environ['RANK'])]\n"
                      "if code == 'run':\n"
                      "    time.sleep(60)\n"
                      "print(f'process {os.environ[\"RANK\"]} says why', file=sys.stderr)\n"
                      "sys.exit(int(code))\n")
    for codes, status in ((("run", "2"), 2), (("1", "2"), 2), (("run", "130"), 130), (("run", "3"), 1)):
        result = subprocess.run([sys.executable, "-m", "pdekit.torchrun", "--standalone", "--nproc_per_node", "2",
                                 str(script), *codes], capture_output=True, text=True, timeout=120)
        err = result.stderr
        assert result.returncode == status, err[-3000:]
        assert err.count("says why") == 2 - codes.count("run"), err
        assert ("ChildFailedError" in err) == (status == 1) and ("exitcode" in err) == (status == 1), err


def _ranks(out):
    """The pids of a --nproc run's training processes (not its launcher's, nor torchrun's)."""
    found = []
    for pid in _processes_naming(str(out)):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                command = fh.read()
        except OSError:
            continue
        if b"--nproc" not in command and b"pdekit.torchrun" not in command:
            found.append(pid)
    return found


@pytest.mark.parametrize("how, status, said", [
    ("ctrl-c", 130, "pdekit: interrupted; run the same command again to resume"),
    ("scheduler", 143, "pdekit: terminated; run the same command again to resume"),
    ("one process", 130, "pdekit: a process was interrupted; run the same command again to resume"),
])
def test_an_interrupted_nproc_run_says_one_line_and_resumes(tmp_path, how, status, said):
    """Ctrl-C in a terminal (SIGINT to the launcher and torchrun, which passes it on), SIGTERM of the
    launcher (a job scheduler) or of one training process: one line, no traceback (but that of the
    process left waiting on the killed one), and a whole checkpoint to resume from. Ctrl-C printed 55 to 109 lines (the processes' KeyboardInterrupt,
    torchrun's SignalException traceback), and a killed process nothing at all."""
    import os
    import signal
    import time

    out = tmp_path / "run"
    args = [sys.executable, "-m", "pdekit", "train", "burgers_fno", "--quick", "--nproc", "2", "train.epochs=1000",
            "data.n_train=8", "data.n_test=2", "train.threads=1", "--out", str(out)]
    launcher = subprocess.Popen(args, env={**os.environ, "PDEKIT_DATA": str(tmp_path / "data")}, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 240
    while not (out / "checkpoint.pt").exists() and time.time() < deadline and launcher.poll() is None:
        time.sleep(0.2)
    if how == "ctrl-c":
        os.killpg(launcher.pid, signal.SIGINT)  # as a terminal does: its foreground process group
    elif how == "scheduler":
        launcher.send_signal(signal.SIGTERM)
    else:
        os.kill(_ranks(out)[-1], signal.SIGTERM)
    _, err = launcher.communicate(timeout=120)
    assert launcher.returncode == status, err[-3000:]
    assert [line for line in err.splitlines() if line.startswith("pdekit:")] == [said], err[-3000:]
    assert "death signal" not in err and "ChildFailedError" not in err, err[-3000:]
    # (the other process, waiting on the killed one in an all-reduce, fails with gloo's "Connection closed by
    # peer" and its traceback)
    assert "Traceback" not in err or how == "one process", err[-3000:]
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] >= 1
    assert not (out / "checkpoint.pt.tmp").exists()
