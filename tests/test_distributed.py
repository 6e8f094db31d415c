"""Distributed training on the CPU: two torchrun processes (gloo) end with identical weights, equal
to a single-process run with the same global batch up to the rounding of the all-reduce."""

import subprocess
import sys
import textwrap

import torch

SCRIPT = textwrap.dedent('''
    import os, sys
    import torch
    from pdekit.train import fit

    torch.manual_seed(0)
    x = torch.randn(64, 1, 32)
    y = torch.roll(x, 3, dims=-1) + 0.1 * x ** 2  # a shift and a pointwise term: a learnable map
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

    cfg, task_cfg = make_train_config(SupervisedTask, dict(epochs=4, batch_size=8, lr=3e-3, device="cpu", threads=1))
    task = SupervisedTask((x[:48], y[:48]), (x[48:], y[48:]), task_cfg)
    trained = task.result(Trainer(model, task, cfg, run, quiet=True, callbacks=[interrupt]).fit())
    rank = int(os.environ.get("RANK", 0))
    torch.save({"weights": model.state_dict(), "history": trained.history, "seen": sum(seen)},
               os.path.join(sys.argv[1], f"rank{rank}.pt"))
''')


def _run(args, tmp_path):
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_two_gloo_processes_match_one_process(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    _run([sys.executable, str(script), str(tmp_path / "one")], tmp_path)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
          str(tmp_path / "two"), str(tmp_path / "run")], tmp_path)
    one = torch.load(tmp_path / "one/rank0.pt", weights_only=True)
    r0, r1 = (torch.load(tmp_path / f"two/rank{r}.pt", weights_only=True) for r in (0, 1))
    for k in one["weights"]:
        assert torch.equal(r0["weights"][k], r1["weights"][k]), k  # the processes never drift apart
        torch.testing.assert_close(r0["weights"][k], one["weights"][k], rtol=1e-5, atol=1e-6)
    # the metrics rows are the whole batch's (reduced over processes), as one process computes them
    for a, b in zip(r0["history"], one["history"]):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-5 * b["train_loss"] and a["epoch"] == b["epoch"]
    assert (tmp_path / "run/checkpoint.pt").exists() and (tmp_path / "run/metrics.csv").exists()
    assert r0["seen"] == r1["seen"] == one["seen"] // 2 == 4 * 48 // 2  # each process did half the work


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
