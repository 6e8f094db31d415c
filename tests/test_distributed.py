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
    trained = fit(model, (x[:48], y[:48]), (x[48:], y[48:]), run_dir=run, quiet=True, epochs=4, batch_size=8,
                  lr=3e-3, device="cpu", threads=1)
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
