"""The HDF5 schema, batch-size independence and kill-and-resume of `pdekit generate`."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from pdekit.data import generate, read_meta
from pdekit.problems import get_problem

SMALL = {
    "heat_1d": (32, {"nt": 3}),
    "heat_2d": (16, {"nt": 3}),
    "burgers_1d": (32, {"solve_resolution": 128, "nt": 3, "t_final": 0.5}),
    "navier_stokes_2d": (16, {"solve_resolution": 32, "nt": 3, "t_final": 0.2, "dt": 0.02}),
    "darcy_2d": (9, {"solve_resolution": 33}),
    "darcy_tensor_2d": (9, {"solve_resolution": 33}),
    "kuramoto_sivashinsky_1d": (16, {"solve_resolution": 32, "nt": 3, "t_final": 2.0, "spinup": 5.0, "dt": 0.1}),
    "allen_cahn_1d": (16, {"solve_resolution": 64, "nt": 3, "t_final": 0.5, "initial": "random"}),
    "advection_1d": (16, {"solve_resolution": 32, "nt": 3}),
    "diffusion_reaction_1d": (16, {"solve_resolution": 64, "nt": 3, "t_final": 0.1, "dt": 0.01}),
    "kdv_1d": (16, {"solve_resolution": 64, "nt": 3, "t_final": 1.0, "dt": 0.1}),
    "wave_2d": (8, {"solve_resolution": 16, "nt": 3, "t_final": 0.1, "dt": 0.002}),
    "cavity_2d": (5, {"solve_resolution": 9, "re_max": 200.0}),
    "cylinder_2d": (5, {"mesh_size": 0.1, "re_max": 40.0}),
    "obstacle_2d": (5, {"mesh_size": 0.1, "shapes": "circle,polygon"}),
    "combined_1d": (10, {"solve_resolution": 40, "nt": 3, "t_final": 0.5, "beta_max": 0.2, "gamma": 0.1}),
}


def _arrays(path):
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return out


def test_every_problem_has_a_small_case():
    from pdekit.problems import PROBLEMS

    assert {name for name, cls in PROBLEMS.items() if cls.kind == "grid"} == set(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_schema_and_batch_size_independence(tmp_path, name):
    resolution, params = SMALL[name]
    problem = get_problem(name).from_params(resolution, params)
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert generate(problem, 5, 7, a, batch_size=1, quiet=True) == "written"
    assert generate(problem, 5, 7, b, batch_size=3, quiet=True) == "written"
    arrays_a, arrays_b = _arrays(a), _arrays(b)
    assert arrays_a.keys() == arrays_b.keys()
    for key in arrays_a:
        assert arrays_a[key].tobytes() == arrays_b[key].tobytes(), key

    meta = read_meta(a)
    assert meta["problem"] == name and meta["pdekit_version"] and meta["device_type"] == "cpu"  # every root attribute
    assert meta["config"]["seed"] == 7 and meta["config"]["n"] == 5
    assert meta["config"]["params"] == {**meta["config"]["params"], **params}
    shapes = problem.field_shapes()  # (resolution,) * ndim, the time axis first; the channel's grid is longer in x
    space = shapes[f"fields/{problem.fields[0]}"][-problem.ndim:]
    assert space == (resolution,) * problem.ndim or name in ("cylinder_2d", "obstacle_2d")
    with h5py.File(a, "r") as f:
        for field in problem.fields:
            shape = (5, problem.config.nt, *space) if problem.time_dependent else (5, *space)
            ds = f[f"fields/{field}"]
            assert ds.shape == shape and ds.dtype == np.float32 and ds.chunks == (1, *shape[1:])
            assert np.isfinite(ds[()]).all() and np.abs(ds[()]).max() > 0
        for name_in in problem.inputs:
            assert f[f"inputs/{name_in}"].shape == (5, *space)
        assert f["coords/x"].shape == (space[0],)
        if problem.time_dependent:
            np.testing.assert_allclose(f["coords/t"][()], problem.times())
            # the initial state is time index 0 and differs from the last one
            assert not np.allclose(f[f"fields/{problem.fields[0]}"][:, 0], f[f"fields/{problem.fields[0]}"][:, -1])
    assert not os.path.exists(f"{a}.parts")


def test_stored_grid_is_the_solve_grid_subsampled(tmp_path):
    """Storing at 32 from a 128-point solve equals solving at 128 and keeping every 4th point."""
    fine = get_problem("burgers_1d").from_params(128, SMALL["burgers_1d"][1])
    coarse = get_problem("burgers_1d").from_params(32, SMALL["burgers_1d"][1])
    generate(fine, 3, 1, tmp_path / "fine.h5", quiet=True)
    generate(coarse, 3, 1, tmp_path / "coarse.h5", quiet=True)
    u_fine = _arrays(tmp_path / "fine.h5")["fields/u"]
    u_coarse = _arrays(tmp_path / "coarse.h5")["fields/u"]
    assert u_fine[..., ::4].tobytes() == u_coarse.tobytes()


def test_samples_depend_on_the_seed(tmp_path):
    problem = get_problem("heat_1d").from_params(32, {"nt": 2})
    generate(problem, 2, 0, tmp_path / "s0.h5", quiet=True)
    generate(problem, 3, 1, tmp_path / "s1.h5", quiet=True)
    generate(problem, 3, 0, tmp_path / "s0b.h5", quiet=True)
    u0, u1, u0b = (_arrays(tmp_path / f)["fields/u"] for f in ("s0.h5", "s1.h5", "s0b.h5"))
    assert not np.allclose(u0, u1[:2])
    assert u0.tobytes() == u0b[:2].tobytes()  # more samples: the first ones unchanged


KILL_ARGS = ["burgers_1d", "--n", "12", "--resolution", "64", "--seed", "3",
             "--set", "solve_resolution=1024", "--set", "dt=4e-4", "--set", "nt=5"]  # about 1 s a batch of 2


def test_killed_generation_resumes_bitwise(tmp_path):
    out = tmp_path / "killed.h5"
    cmd = [sys.executable, "-m", "pdekit", "generate", *KILL_ARGS, "--batch-size", "2", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    parts = f"{out}.parts"
    deadline = time.time() + 600  # (a loaded machine took over 120 s for two parts)
    while time.time() < deadline:
        if os.path.isdir(parts) and len([p for p in os.listdir(parts) if p.endswith(".npz") and not p.startswith(".")]) >= 2:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "the run finished before it could be killed; make it slower"
    done_before = len([p for p in os.listdir(parts) if p.endswith(".npz") and not p.startswith(".")])
    assert 2 <= done_before < 6

    resumed = subprocess.run(cmd, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr

    reference = tmp_path / "reference.h5"
    cmd_ref = [sys.executable, "-m", "pdekit", "generate", *KILL_ARGS, "--batch-size", "5", "--out", str(reference), "--quiet"]
    assert subprocess.run(cmd_ref, capture_output=True).returncode == 0
    killed, ref = _arrays(out), _arrays(reference)
    assert killed.keys() == ref.keys()
    for key in ref:
        assert killed[key].tobytes() == ref[key].tobytes(), key
    assert not os.path.exists(parts)


@pytest.mark.parametrize("name", sorted(n for n in SMALL if get_problem(n).time_dependent))
def test_the_stepper_reproduces_the_solvers_trajectory(name):
    """Problem.step, applied stored interval after stored interval from the state at t = 0 on the
    solve grid, gives the trajectory solve() computed, to round-off (measured at most 2e-15 of the
    field's largest value: the stepper restarts from grid values, the solver from its Fourier
    coefficients). A problem forced in time (combined_1d) steps from the state's time, with the
    forcing's waves and per-sample coefficients in the state, and returns the time it reached."""
    from pdekit.data.generate import draw_inputs
    from pdekit.errors import PdekitError

    resolution, params = SMALL[name]
    problem = get_problem(name).from_params(resolution, params)
    inputs = draw_inputs(problem, 0, range(2))
    trajectory = problem.solve(inputs)
    times = problem.times()
    state = {k: v[:, 0] for k, v in trajectory.items()}
    given = {k: v for k, v in inputs.items() if k in problem.varying or k == "waves"}  # used, not returned
    if not problem.autonomous:
        state["t"] = times[0]
    for i in range(1, len(times)):
        state = problem.step({**state, **given}, times[i] - times[i - 1])
        assert set(state) == set(problem.fields) | ({"t"} if not problem.autonomous else set())
        for k in problem.fields:
            scale = float(trajectory[k].abs().max())
            assert float((state[k] - trajectory[k][:, i]).abs().max()) < 1e-13 * scale, (name, k, i)
    if not problem.autonomous:
        assert state["t"] == pytest.approx(times[-1], abs=1e-15)
        with pytest.raises(PdekitError, match="state's time as state"):
            problem.step({k: v for k, v in {**state, **given}.items() if k != "t"}, 0.1)
    for bad_state, dt, message in (({}, 0.1, "the state must hold the fields"), ({**state, **given}, float("nan"),
                                   "positive finite"), ({**state, **given}, -0.1, "positive finite")):
        with pytest.raises(PdekitError, match=message):
            problem.step(bad_state, dt)


@pytest.mark.parametrize("name", sorted(n for n in SMALL if get_problem(n).conserved))
def test_what_a_problem_declares_conserved_its_solver_conserves(name):
    """The mass of conservation laws on periodic domains to round-off; the wave energy up to the
    Stormer-Verlet oscillation (3e-4 at dt = 0.002 on 16 points; counted without the Nyquist modes,
    which the stepper moves, it drifted by 1%)."""
    resolution, params = SMALL[name]
    problem = get_problem(name).from_params(resolution, params)
    from pdekit.data.generate import draw_inputs

    trajectory = problem.solve(draw_inputs(problem, 0, range(2)))
    scale = max(float(v.abs().max()) for v in trajectory.values())
    values = [problem.conserved_quantities({k: v[:, i] for k, v in trajectory.items()})
              for i in range(len(problem.times()))]
    for key in problem.conserved:
        drift = max(float((q[key] - values[0][key]).abs().max()) for q in values)
        bound = 1e-14 * scale if key == "mass" else 1e-3 * float(values[0][key].abs().max())
        assert drift < bound, (name, key, drift)


def _attributes(path):
    """Every group's and dataset's attributes but the root's ``created`` time, as text."""
    with h5py.File(path, "r") as f:
        out = {"/": {k: repr(v) for k, v in f.attrs.items() if k != "created"}}
        f.visititems(lambda name, obj: out.update({name: {k: repr(v) for k, v in obj.attrs.items()}}))
        return out


def test_shards_join_into_the_file_one_process_writes(tmp_path):
    """Shards of a generation (one after the other, and two processes at once) assemble a file
    whose arrays are bitwise those of a single-process run; a shard alone leaves no file."""
    import subprocess
    import sys

    from pdekit.data.generate import generate

    resolution, params = SMALL["burgers_1d"]
    problem = get_problem("burgers_1d").from_params(resolution, params)
    generate(problem, 10, 3, str(tmp_path / "one.h5"), batch_size=3, quiet=True)
    assert generate(problem, 10, 3, str(tmp_path / "two.h5"), batch_size=3, quiet=True, shard=(1, 2)) == "shard done"
    assert not (tmp_path / "two.h5").exists()
    assert generate(problem, 10, 3, str(tmp_path / "two.h5"), batch_size=3, quiet=True, shard=(0, 2)) == "written"
    one, two = _arrays(tmp_path / "one.h5"), _arrays(tmp_path / "two.h5")
    assert one.keys() == two.keys() and all(np.array_equal(one[k], two[k]) for k in one)
    assert _attributes(tmp_path / "one.h5") == _attributes(tmp_path / "two.h5")

    # a part damaged from outside: refused at assembly, with no half file left; deleted, it is solved again
    from pdekit.errors import DataFileError

    assert generate(problem, 10, 3, str(tmp_path / "four.h5"), batch_size=3, quiet=True, shard=(1, 2)) == "shard done"
    damaged = sorted((tmp_path / "four.h5.parts").glob("*.npz"))[0]
    damaged.write_bytes(damaged.read_bytes()[:100])
    with pytest.raises(DataFileError, match=f"'{damaged}' is damaged .*delete it and run the same command again"):
        generate(problem, 10, 3, str(tmp_path / "four.h5"), batch_size=3, quiet=True, shard=(0, 2))
    assert not (tmp_path / "four.h5").exists() and not (tmp_path / "four.h5.tmp").exists()
    damaged.unlink()
    assert generate(problem, 10, 3, str(tmp_path / "four.h5"), batch_size=3, quiet=True) == "resumed"
    four = _arrays(tmp_path / "four.h5")
    assert all(np.array_equal(one[k], four[k]) for k in one)

    args = [sys.executable, "-m", "pdekit", "generate", "burgers_1d", "--n", "10", "--seed", "3", "--batch-size", "3",
            "--resolution", str(resolution), "--quiet", "--out", str(tmp_path / "three.h5")]
    args += [f"--set={k}={v}" for k, v in params.items()]
    procs = [subprocess.Popen(args + ["--shard", f"{k}/2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(2)]
    outputs = [p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    three = _arrays(tmp_path / "three.h5")
    assert all(np.array_equal(one[k], three[k]) for k in one) and not (tmp_path / "three.h5.parts").exists()
    assert _attributes(tmp_path / "one.h5") == _attributes(tmp_path / "three.h5")


def test_a_run_resumed_with_another_batch_size_solves_only_what_is_missing(tmp_path):
    """Lowering the batch size after a kill (out of memory, say) used to leave the samples between
    the old and the new batch boundaries unsolved: the run said "shard done" and wrote no file.
    Parts that overlap (two runs of the same data at once) are joined without repeating samples."""
    from pdekit.data.generate import _save_part, solve_samples

    resolution, params = SMALL["burgers_1d"]
    problem = get_problem("burgers_1d").from_params(resolution, params)
    generate(problem, 10, 3, str(tmp_path / "one.h5"), batch_size=10, quiet=True)
    out = str(tmp_path / "resumed.h5")
    assert generate(problem, 10, 3, out, batch_size=3, quiet=True, shard=(0, 2)) == "shard done"  # 0..4, as if killed
    _save_part(out + ".parts", 2, solve_samples(problem, 3, range(2, 6)))  # overlaps both parts
    assert sorted(os.listdir(out + ".parts")) == ["000000000-000000003.npz", "000000002-000000006.npz",
                                                 "000000003-000000005.npz", "meta.json"]
    assert generate(problem, 10, 3, out, batch_size=4, quiet=True) == "resumed"
    one, resumed = _arrays(tmp_path / "one.h5"), _arrays(out)
    assert one.keys() == resumed.keys() and all(one[k].tobytes() == resumed[k].tobytes() for k in one)

    from pdekit.data.generate import _load_parts
    from pdekit.errors import DataFileError

    gap = str(tmp_path / "gap.parts")
    os.makedirs(gap)
    for start, stop in ((0, 3), (5, 10)):
        _save_part(gap, start, solve_samples(problem, 3, range(start, stop)))
    with pytest.raises(DataFileError, match=r"misses samples 3 \.\. 4"):  # never read past a gap
        list(_load_parts(gap, 10))


def test_two_runs_of_the_same_data_at_once_both_end_with_the_file(tmp_path):
    """Two sweeps sharing a data file (darcy_fno and darcy_unet have the same data section) start
    its generation together: both end with the file (one writes it, the other waits while it is
    written: it returned "shard done" before the file existed), with no traceback from a shared
    temporary name or a parts folder removed under the other. The writer is slowed down here."""
    resolution, params = SMALL["burgers_1d"]
    problem = get_problem("burgers_1d").from_params(resolution, params)
    generate(problem, 24, 3, str(tmp_path / "one.h5"), batch_size=24, quiet=True)
    script = (
        "import importlib, os, sys, time\n"
        "g = importlib.import_module('pdekit.data.generate')\n"
        "from pdekit.problems import get_problem\n"
        "if sys.argv[1] == 'slow':\n"
        "    write = g.write_file\n"
        "    g.write_file = lambda *a, **k: (time.sleep(2), write(*a, **k))[1]\n"
        f"problem = get_problem('burgers_1d').from_params({resolution}, {params!r})\n"
        "status = g.generate(problem, 24, 3, sys.argv[2], batch_size=int(sys.argv[3]), quiet=True)\n"
        "print(status, os.path.exists(sys.argv[2]))\n")
    out = str(tmp_path / "both.h5")
    procs = [subprocess.Popen([sys.executable, "-c", script, kind, out, batch], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for kind, batch in (("slow", "24"), ("fast", "1"))]
    outputs = [p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    # one writes the file: "written", or "resumed" where it started after the other had solved every
    # sample and assembled them first (seen once on a loaded machine); the other finds it there
    first, second = sorted(o[0].split()[0] for o in outputs)
    assert first == "exists" and second in ("resumed", "written"), outputs
    assert all(o[0].split()[1] == "True" for o in outputs), outputs
    one, both = _arrays(tmp_path / "one.h5"), _arrays(out)
    assert all(one[k].tobytes() == both[k].tobytes() for k in one) and not (tmp_path / "both.h5.parts").exists()


def test_the_assembled_file_is_on_disk_before_its_parts_are_removed(tmp_path, monkeypatch):
    """A power cut right after assembly must not lose both the parts and the file: the file and its
    folder entry are synced to disk before the parts are deleted."""
    import shutil

    events = []
    sync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("sync", os.readlink(f"/proc/self/fd/{fd}"))), sync(fd)))
    remove = shutil.rmtree
    monkeypatch.setattr(shutil, "rmtree", lambda path, **kw: (events.append(("remove", str(path))), remove(path, **kw)))
    resolution, params = SMALL["burgers_1d"]
    generate(get_problem("burgers_1d").from_params(resolution, params), 4, 3, str(tmp_path / "f.h5"), quiet=True)
    removed = events.index(("remove", str(tmp_path / "f.h5.parts")))
    synced = [path for kind, path in events[:removed] if kind == "sync"]
    assert os.path.realpath(tmp_path / "f.h5.tmp") in synced and os.path.realpath(tmp_path) in synced


def test_a_solver_that_returns_nan_stops_generation_naming_the_sample(monkeypatch):
    """Nothing non-finite is stored or fed to online training (online pairs are not checked when
    read, unlike files): the sample, its seed and the field are named."""
    from pdekit.data.generate import solve_samples
    from pdekit.errors import UnstableError

    problem = get_problem("heat_1d").from_params(16, {"nt": 3})
    solve = type(problem).solve

    def broken(self, inputs):
        out = solve(self, inputs)
        out["u"][1, -1, 3] = float("inf")
        return out

    monkeypatch.setattr(type(problem), "solve", broken)
    with pytest.raises(UnstableError, match="returned NaN or inf in 'u' of sample 6 \\(seed 0\\)"):
        solve_samples(problem, 0, range(5, 8))
