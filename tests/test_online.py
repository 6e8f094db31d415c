"""Online training: solver workers feed a bounded buffer. Samples equal the generated files', the
policies draw what they promise, and a run is a pure function of its recipe: a killed worker or a
killed trainer changes nothing in the weights."""

import json
import os
import signal

import pytest
import torch
import yaml

from pdekit.data.dataset import load_pairs
from pdekit.data.generate import generate
from pdekit.data.online import OnlinePairs, resolve_watermark
from pdekit.errors import ConfigError, PdekitError
from pdekit.problems import get_problem
from pdekit.train import SupervisedTask, Trainer, make_train_config


def _problem():
    return get_problem("heat_1d").from_params(32, {"nt": 2, "nu": 0.02})


def _source(**options):
    settings = dict(n_train=24, skip=6, batch_size=8, buffer=24, policy="firo", workers=2, chunk=4)
    settings.update(options)
    return OnlinePairs(_problem(), 0, **settings)


def test_online_samples_are_the_generated_files_and_skip_validation_and_test(tmp_path):
    source = _source()
    try:
        source.normalizers()  # the first fill: 16 positions
        epoch = list(source.batches(8, torch.Generator().manual_seed(0)))
    finally:
        source.close()
    assert source.index(23) == 23 and source.index(24) == 30  # indices 24..29 validate and test
    generate(_problem(), 60, 0, tmp_path / "all.h5", quiet=True)
    x_file, y_file, _ = load_pairs(tmp_path / "all.h5")
    for p in source.buffer:
        x, y = source.samples[p]
        assert torch.equal(x, x_file[source.index(p)]) and torch.equal(y, y_file[source.index(p)])
    assert len(epoch) == 3 and all(len(x) == 8 for x, _ in epoch)
    two = [OnlinePairs(_problem(), 0, 24, 6, 8, world=2, rank=r) for r in (0, 1)]
    streams = [[s.index(p) for p in range(20)] for s in two]
    assert not set(streams[0]) & set(streams[1]) and not set(streams[0] + streams[1]) & set(range(24, 30))
    assert two[0].share == two[1].share == 4


@pytest.mark.parametrize("policy", ["fifo", "firo", "reservoir"])
def test_buffer_policies_draw_what_they_promise(policy):
    source = _source(policy=policy, reuse=4.0, buffer=16 if policy == "reservoir" else 24)
    drawn = []
    try:
        source.normalizers()
        for epoch in (1, 2):
            for _ in source.batches(8, torch.Generator().manual_seed(epoch)):
                drawn.append(list(source.drawn))
                assert len(source.buffer) <= source.capacity
    finally:
        source.close()
    flat = [p for batch in drawn for p in batch]
    if policy == "fifo":  # the oldest first: the stream in order
        assert flat == list(range(len(flat)))
    elif policy == "firo":  # each sample once, shuffled, never one the buffer has not received yet
        assert len(set(flat)) == len(flat) == 48 and flat != sorted(flat)
        assert all(p < 16 + 8 * (i // 8 + 1) for i, p in enumerate(flat))
    else:  # a full reservoir takes 2 fresh samples per step of 8 draws: each drawn 4 times on average
        assert source.next == 16 + 6 * 2 and len(set(flat)) < len(flat)
    assert source.requested % source.chunk == 0  # workers solve whole chunks, not a sample per call


def test_the_fingerprint_names_the_streams_draws():
    """fit(run_dir=...) resumes only the same stream: the policy, buffer, watermark and reuse decide
    which samples the checkpoint's buffer positions are (no worker starts for a fingerprint)."""
    same = _source().fingerprint()
    assert _source().fingerprint() == same
    for change in ({"policy": "fifo"}, {"buffer": 32}, {"watermark": 12}, {"policy": "reservoir", "reuse": 2.0}):
        assert _source(**change).fingerprint() != same, change
    # every process of a run has the same one (the resolved watermark follows each one's share: 5 and 4 of 9)
    ranks = [_source(batch_size=9, rank=r, world=2) for r in (0, 1)]
    assert ranks[0].watermark != ranks[1].watermark and ranks[0].fingerprint() == ranks[1].fingerprint()


def test_watermark_checks():
    assert resolve_watermark(24, "firo", -1, 8) == 16 and resolve_watermark(24, "reservoir", -1, 8) == 24
    with pytest.raises(ConfigError, match="must hold data.watermark"):
        resolve_watermark(24, "fifo", 20, 8)
    with pytest.raises(ConfigError, match="reservoir"):
        resolve_watermark(4, "reservoir", -1, 8)


def _train(run_dir, callbacks=(), epochs=4):
    torch.manual_seed(0)
    problem = _problem()
    x_val, y_val, _ = load_pairs(_val_file(run_dir))
    model = torch.nn.Conv1d(1, 1, 5, padding=2, padding_mode="circular")
    cfg, task_cfg = make_train_config(SupervisedTask, dict(epochs=epochs, batch_size=8, lr=3e-3, device="cpu",
                                                           threads=1))
    source = OnlinePairs(problem, 0, 24, 6, 8, buffer=24, workers=2, chunk=4)
    task = SupervisedTask(source, (x_val, y_val), task_cfg)
    try:
        trained = Trainer(model, task, cfg, run_dir, quiet=True, callbacks=callbacks).fit()
    finally:
        source.close()
    return trained, source


def _val_file(run_dir):
    path = os.path.join(os.path.dirname(run_dir), "val.h5")
    generate(_problem(), 6, 0, path, quiet=True, first=24)
    return path


def test_a_killed_worker_is_restarted_and_no_sample_is_lost_or_used_twice(tmp_path, monkeypatch):
    """A worker killed mid-run is restarted with its unfinished samples; the stream stays whole, and
    the weights equal those of a run whose workers all lived."""
    from pdekit.data import online

    monkeypatch.setattr(online, "STALL_SECONDS", 30)  # a lost sample fails the test, not hangs it
    def kill_a_worker(trainer, row):
        if row["epoch"] == 2:
            os.kill(trainer.task.source.pool.procs[0].pid, signal.SIGKILL)

    killed, source = _train(str(tmp_path / "killed"), [kill_a_worker])
    assert source.pool is None and len(source.messages) == 1 and "died" in source.messages[0]
    assert source.inserted == list(range(source.next))  # every fresh position once, in order
    assert killed.history[-1]["worker_restarts"] == 1 and killed.history[-1]["fresh_samples"] == 16 + 4 * 24
    whole, _ = _train(str(tmp_path / "whole"))
    for k, v in whole.model.state_dict().items():
        assert torch.equal(v, killed.model.state_dict()[k]), k


def test_a_killed_online_run_resumes_to_the_same_weights(tmp_path):
    def interrupt(trainer, row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(str(tmp_path / "run"), [interrupt])
    state = torch.load(tmp_path / "run/checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and json.loads(state["online_state"])[0]["next"] == 16 + 2 * 24
    resumed, _ = _train(str(tmp_path / "run"))
    whole, _ = _train(str(tmp_path / "whole"))
    for k, v in whole.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


RECIPE = {
    "name": "tiny_online",
    "description": "heat_1d, tiny FNO, online",
    "data": {"problem": "heat_1d", "resolution": 32, "params": {"nt": 2, "nu": 0.02}, "n_train": 32, "n_val": 8,
             "n_test": 8, "seed": 0, "batch_size": 8, "source": "online", "buffer": 24, "workers": 1},
    "model": {"name": "fno", "modes": 6, "hidden_channels": 8, "n_layers": 2},
    "train": {"epochs": 6, "batch_size": 8, "lr": 5e-3, "threads": 1},
    "eval": {"timing_samples": 2, "plot_samples": 2, "solver_ladder": False},
}


def test_pdekit_run_online_writes_no_training_data(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PDEKIT_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    code, out, err = run_cli("run", path, "--out", "runs/a", "--quiet")
    assert code == 0, err
    cached = sorted(os.listdir(tmp_path / "data"))
    assert [name.split("-")[2:4] for name in cached] == [["32", "40"], ["40", "48"]]  # validation and test only
    metrics = json.loads((tmp_path / "runs/a/metrics.json").read_text())
    assert metrics["test_rel_l2"] < 0.2  # measured 0.137 (6 epochs of 4 steps on fresh samples)
    rows = (tmp_path / "runs/a/metrics.csv").read_text().splitlines()
    assert "fresh_samples" in rows[0] and "solver_samples_per_s" in rows[0]
    fresh = int(float(rows[-1].split(",")[rows[0].split(",").index("fresh_samples")]))
    assert fresh > 32 and f"32 train per epoch, solved online ({fresh} fresh samples in all" in \
        (tmp_path / "runs/a/report.md").read_text()
    # fresh samples past the test indices trained it too: scoring them is not a test
    code, _, err = run_cli("generate", "heat_1d", "--n", "8", "--resolution", "32", "--set", "nt=2", "--set",
                           "nu=0.02", "--seed", "0", "--first", "48", "--out", "later.h5", "--quiet")
    assert code == 0, err
    code, out, err = run_cli("eval", "runs/a", "--data", "later.h5", "--json", "later.json")
    assert code == 0, err
    assert "holds samples 48 .. 55 of seed 0, of which 48 .. 55 trained or validated this model" in out + err
    assert metrics["train_processes"] == [1]
    # its buffers are per process: another count is refused before torchrun starts (each process refused it,
    # glued to torchrun's traceback, exit 1)
    code, _, err = run_cli("train", path, "--out", "runs/a", "--nproc", "2")
    assert code == 2 and "trained by 1 process(es)" in err and "resume it without --nproc" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("change, message", [
    ({"file": "x.h5"}, "cannot be combined with data.file"),
    ({"buffer": 4}, r"data.buffer = 4 must exceed the batch \(8\).* data.buffer >= 9"),
    ({"buffer": 8}, r"data.buffer = 8 must exceed the batch"),  # (named data.watermark, which was not set)
    ({"buffer": 24, "watermark": 0}, "watermark must be >= 1"),
    ({"buffer": 12, "watermark": 8}, "must hold data.watermark"),
])
def test_bad_online_recipes_are_refused(tmp_path, change, message):
    from pdekit.recipes import load_recipe

    raw = json.loads(json.dumps(RECIPE))
    raw["data"].update(change)
    with pytest.raises(ConfigError, match=message):
        load_recipe(raw)


def test_resuming_with_another_number_of_processes_is_refused(tmp_path):
    from pdekit.paths import write_json
    from pdekit.pipeline import prepare_run_dir
    from pdekit.recipes import load_recipe

    source = _source()
    with pytest.raises(PdekitError, match="resume it with as many"):
        source.load_state_dict({"online_state": json.dumps([{"buffer": [], "next": 0}] * 2)})
    # before any data is made, by the run folder's check: a run of two processes resumed by one
    recipe, run = load_recipe(json.loads(json.dumps(RECIPE))), tmp_path / "run"
    run.mkdir()
    write_json(run / "recipe.json", recipe.raw)
    torch.save({"model": {}, "recipe": "{}", "online_state": json.dumps([{"buffer": [], "next": 0}] * 2)},
               run / "checkpoint.pt")
    prepare_run_dir(str(run), recipe, processes=2)
    with pytest.raises(PdekitError, match="trained by 2 process.es., .* resume it with --nproc 2"):
        prepare_run_dir(str(run), recipe)


def test_a_resumed_online_run_solves_no_first_fill_again(tmp_path, monkeypatch):
    """Resuming restores the normalizers and the buffer from the checkpoint: the positions solved
    again are the saved buffer's and later ones, never the first fill's."""
    def interrupt(trainer, row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(str(tmp_path / "run"), [interrupt])
    saved = json.loads(torch.load(tmp_path / "run/checkpoint.pt", weights_only=True)["online_state"])[0]
    asked = []
    submit = OnlinePairs._submit
    monkeypatch.setattr(OnlinePairs, "_submit", lambda self, positions: (asked.extend(positions), submit(self, positions)))
    _train(str(tmp_path / "run"))
    again = sorted(p for p in asked if p < saved["next"])
    assert again == sorted(saved["buffer"]) and len(again) < saved["next"]


def test_each_process_augments_its_own_share_with_its_own_draws():
    """Under torchrun a sharded (online) source yields each process its own share; the epoch's
    generator, seeded alike on every process, gave the j-th sample of every share the same
    transform (a global batch of 8 got 4 distinct ones). Rank 0 keeps the one-process draws."""
    from pdekit.data.sources import MemoryPairs
    from pdekit.train.supervised import SupervisedConfig as task_config

    class Shard(MemoryPairs):
        sharded = True

    x = torch.ones(8, 1, 16)
    draws = {}
    for rank in (None, 0, 1):
        source = MemoryPairs(x, x) if rank is None else Shard(x, x)
        source.rank = rank or 0
        task = SupervisedTask(source, (x, x), task_config(augment=True),
                              augmentation=lambda a, b, g: (a + torch.rand(len(a), 1, 1, generator=g), b))
        task.seed, task.batch, task.device = 0, 4, torch.device("cpu")
        draws[rank] = torch.cat([xb[:, 0, 0] for xb, _ in task.batches(1, torch.float32)])
    assert torch.equal(draws[None], draws[0]) and not torch.isin(draws[1], draws[0]).any()


def test_the_samples_an_online_run_trained_on_with_two_processes():
    """Process r solves the stream's positions p * 2 + r: with 20 and 19 inserted, stream indices
    0 .. 38 trained; those past n_train = 32 skip the 8 validation and 8 test indices (48 .. 54)."""
    from pdekit.pipeline import trained_spans
    from pdekit.recipes import load_recipe

    recipe = load_recipe(RECIPE)
    state = {"online_state": json.dumps([{"buffer": [], "next": 20}, {"buffer": [], "next": 19}])}
    assert trained_spans(recipe, state) == [(0, 39), (48, 54)]
    assert trained_spans(recipe, {"online_state": json.dumps([{"buffer": [], "next": 10}])}) == [(0, 39)]
