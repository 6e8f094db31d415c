"""PDEBench and The Well files: written here in each layout, read back, converted bit for bit, refused
with a clear message when broken, and trained on through the recipe mechanism."""

import json

import h5py
import numpy as np
import pytest
import torch

from pdekit.data.dataset import load_pairs
from pdekit.data.formats import convert, open_source
from pdekit.errors import ConfigError, DataFileError


def _heat(n, nt, space, seed=0, channels=1):
    """Exact heat-equation trajectories (n, nt, *space, channels) of smooth random periodic data:
    a task an FNO learns in a few epochs."""
    rng = np.random.default_rng(seed)
    ks = np.meshgrid(*[np.fft.fftfreq(s, 1 / s) for s in space], indexing="ij")
    k2 = sum(k**2 for k in ks)
    coef = (rng.standard_normal((n, channels, *space)) + 1j * rng.standard_normal((n, channels, *space)))
    coef *= np.exp(-0.3 * k2)
    t = np.linspace(0, 1, nt)
    axes = tuple(range(-len(space), 0))
    u = np.stack([np.fft.ifftn(coef * np.exp(-0.02 * (2 * np.pi) ** 2 * k2 * s), axes=axes).real for s in t], axis=1)
    u = u / np.abs(u).max()
    return np.moveaxis(u, 2, -1).astype(np.float32), t  # (n, nt, *space, channels)


def write_pdebench_tensor(path, n=40, nt=6, nx=32):
    u, t = _heat(n, nt, (nx,))
    with h5py.File(path, "w") as f:
        f["tensor"] = u[..., 0]
        f["x-coordinate"] = ((np.arange(nx) + 0.5) / nx).astype(np.float32)
        f["t-coordinate"] = np.append(t, t[-1] + t[1]).astype(np.float32)  # T + 1 entries, as PDEBench's
    return u[..., 0]


def write_pdebench_darcy(path, n=6, nx=16):
    rng = np.random.default_rng(1)
    nu = rng.uniform(1, 12, (n, nx, nx)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f["nu"] = nu
        f["tensor"] = (1 / nu)[:, None]
        f["x-coordinate"] = f["y-coordinate"] = np.linspace(0, 1, nx).astype(np.float32)
    return nu


def write_pdebench_variables(path, n=5, nt=4, nx=16):
    u, t = _heat(n, nt, (nx,), channels=3)
    with h5py.File(path, "w") as f:
        for c, name in enumerate(("density", "pressure", "Vx")):
            f[name] = u[..., c]
        f["x-coordinate"] = np.linspace(0, 1, nx).astype(np.float32)
        f["t-coordinate"] = np.append(t, 1.2).astype(np.float32)
    return u


def write_pdebench_seeds(path, n=4, nt=3, nx=8):
    u, t = _heat(n, nt, (nx, nx), channels=2)
    with h5py.File(path, "w") as f:
        for i in range(n):
            g = f.create_group(f"{i:04d}")
            g["data"] = u[i]
            g["grid/x"] = g["grid/y"] = np.linspace(0, 1, nx)
            g["grid/t"] = t
    return u


def write_the_well(path, n=30, nt=5, nx=16, seed=0):
    u, t = _heat(n, nt, (nx, nx), seed=seed, channels=3)
    with h5py.File(path, "w") as f:
        f.attrs.update({"dataset_name": "heat_test", "grid_type": "cartesian", "n_spatial_dims": 2,
                        "n_trajectories": n})
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims["time"] = t
        dims["x"] = dims["y"] = np.arange(nx) / nx
        bc = f.create_group("boundary_conditions/x_periodic")
        bc.attrs.update({"bc_type": "PERIODIC", "associated_dims": ["x"]})
        f["scalars/nu"] = 0.02
        t0 = f.create_group("t0_fields")
        t0.attrs["field_names"] = ["density"]
        t0["density"] = u[..., 0]
        t1 = f.create_group("t1_fields")
        t1.attrs["field_names"] = ["velocity"]
        t1["velocity"] = u[..., 1:]
        for ds in (t0["density"], t1["velocity"]):
            ds.attrs.update({"dim_varying": [True, True], "sample_varying": True, "time_varying": True})
        f.create_group("t2_fields").attrs["field_names"] = []
    return u


def test_pdebench_tensor_layout_reads_as_time_slices(tmp_path):
    path = tmp_path / "1D_Advection.hdf5"
    u = write_pdebench_tensor(path)
    f, source = open_source(path)
    with f:
        assert (source.layout, source.n, source.nt, source.space, source.time_dependent) == \
            ("pdebench-tensor", 40, 6, (32,), True)
        assert source.channels() == (1, 1) and len(source.coords["t"]) == 6
    x, y, meta = load_pairs(path, 0, -1, start=3, limit=5)
    assert x.numpy().tobytes() == u[3:8, 0, None].tobytes() and y.numpy().tobytes() == u[3:8, -1, None].tobytes()
    assert meta["problem"] is None and meta["layout"] == "pdebench-tensor" and meta["resolution"] == 32
    with pytest.raises(DataFileError, match=r"time index 9 \(data.target_time\) is outside the 6 stored times"):
        load_pairs(path, 0, 9)


def test_pdebench_root_attributes_are_kept_as_metadata(tmp_path):
    """PDEBench stores the equation's parameters (Nu, beta, ...) as root attributes: a converted file
    kept none of them."""
    from pdekit.data.storage import read_meta

    write_pdebench_tensor(tmp_path / "a.hdf5", n=4)
    with h5py.File(tmp_path / "a.hdf5", "r+") as f:
        f.attrs.update({"Nu": 0.01, "name": b"burgers", "grid": np.zeros(3)})  # (an array is no parameter)
    f, source = open_source(tmp_path / "a.hdf5")
    with f:
        assert source.attrs == {"attributes": {"Nu": 0.01, "name": "burgers"}}
    convert(tmp_path / "a.hdf5", tmp_path / "a.h5")
    assert read_meta(tmp_path / "a.h5")["config"]["source"]["attributes"] == {"Nu": 0.01, "name": "burgers"}
    convert(tmp_path / "a.h5", tmp_path / "back.hdf5", "pdebench-tensor")  # and back, where PDEBench keeps them
    with h5py.File(tmp_path / "back.hdf5") as f:
        assert (float(f.attrs["Nu"]), f.attrs["name"]) == (0.01, "burgers")


def test_pdebench_darcy_maps_nu_to_the_solution(tmp_path):
    path = tmp_path / "2D_DarcyFlow.hdf5"
    nu = write_pdebench_darcy(path)
    x, y, _ = load_pairs(path)
    assert x.shape == (6, 1, 16, 16) and x.numpy().tobytes() == nu[:, None].tobytes()
    np.testing.assert_array_equal(y.numpy()[:, 0], (1 / nu).astype(np.float32))


def test_pdebench_variables_and_seeds_layouts(tmp_path):
    u = write_pdebench_variables(tmp_path / "cfd.hdf5")
    x, y, meta = load_pairs(tmp_path / "cfd.hdf5", 1, 2)
    assert meta["layout"] == "pdebench-variables" and x.shape == (5, 3, 16)
    assert y.numpy().tobytes() == np.moveaxis(u[:, 2], -1, 1).tobytes()

    u = write_pdebench_seeds(tmp_path / "swe.h5")
    x, y, meta = load_pairs(tmp_path / "swe.h5", 0, -1)
    assert meta["layout"] == "pdebench-seeds" and x.shape == (4, 2, 8, 8)
    assert x.numpy().tobytes() == np.moveaxis(u[:, 0], -1, 1).tobytes()


def test_the_well_layout_splits_vector_fields_into_channels(tmp_path):
    path = tmp_path / "heat_test.hdf5"
    u = write_the_well(path)
    f, source = open_source(path)
    with f:
        assert source.layout == "the-well" and list(source.fields) == ["density", "velocity_x", "velocity_y"]
        assert source.space == (16, 16) and source.nt == 5 and source.n == 30
        assert source.attrs["scalars"] == {"nu": 0.02}
        assert source.attrs["boundary_conditions"] == {"x_periodic": "PERIODIC"}
    x, y, _ = load_pairs(path, 0, 4)
    assert x.numpy().tobytes() == np.moveaxis(u[:, 0], -1, 1).tobytes()
    assert y.numpy().tobytes() == np.moveaxis(u[:, 4], -1, 1).tobytes()
    stress = np.random.default_rng(1).standard_normal((30, 5, 16, 16, 2, 2)).astype(np.float32)
    with h5py.File(path, "r+") as f:  # a tensor field: one channel per component, named as The Well names them
        f["t2_fields/stress"] = stress
        f["t2_fields/stress"].attrs.update({"dim_varying": [True, True], "sample_varying": True, "time_varying": True})
        f["t2_fields"].attrs["field_names"] = ["stress"]
    f, source = open_source(path)
    with f:
        assert list(source.fields)[3:] == ["stress_xx", "stress_xy", "stress_yx", "stress_yy"]
        assert source.fields["stress_yx"](0, 30, None).tobytes() == stress[..., 1, 0].tobytes()


@pytest.mark.parametrize("writer, name", [(write_pdebench_tensor, "a.hdf5"), (write_pdebench_darcy, "d.hdf5"),
                                          (write_pdebench_variables, "v.hdf5"), (write_pdebench_seeds, "s.h5"),
                                          (write_the_well, "w.hdf5")])
def test_convert_to_pdekit_keeps_every_array_bit_for_bit(tmp_path, writer, name):
    src, dst = tmp_path / name, tmp_path / "converted.h5"
    writer(src)
    convert(src, dst)
    with h5py.File(dst) as f:
        config = json.loads(f.attrs["config"])
        assert f.attrs["problem"] == "external" and config["source"]["layout"] != "pdekit"
    f1, a = open_source(src)
    f2, b = open_source(dst)
    with f1, f2:
        assert b.layout == "pdekit" and list(a.fields) == list(b.fields) and list(a.inputs) == list(b.inputs)
        assert (a.n, a.time_dependent, a.space) == (b.n, b.time_dependent, b.space)
        for key in a.fields:
            assert a.fields[key](0, a.n, None).tobytes() == b.fields[key](0, b.n, None).tobytes(), key
        for key in a.inputs:
            assert a.inputs[key](0, a.n, None).tobytes() == b.inputs[key](0, b.n, None).tobytes(), key


def test_round_trip_back_to_pdebench_tensor_layout(tmp_path):
    u = write_pdebench_tensor(tmp_path / "a.hdf5")
    convert(tmp_path / "a.hdf5", tmp_path / "p.h5")
    convert(tmp_path / "p.h5", tmp_path / "b.hdf5", "pdebench-tensor")
    with h5py.File(tmp_path / "a.hdf5") as a, h5py.File(tmp_path / "b.hdf5") as b:
        assert b["tensor"][()].tobytes() == u.tobytes()
        np.testing.assert_array_equal(b["x-coordinate"][()], a["x-coordinate"][()])
        np.testing.assert_allclose(b["t-coordinate"][()], a["t-coordinate"][()], rtol=1e-6)


def test_pdekit_generated_file_exports_to_pdebench(tmp_path):
    from pdekit.data import generate
    from pdekit.problems import get_problem

    p = get_problem("darcy_2d").from_params(9, {"solve_resolution": 33})
    generate(p, 3, 0, tmp_path / "darcy.h5", quiet=True)
    convert(tmp_path / "darcy.h5", tmp_path / "darcy_pdebench.hdf5", "pdebench-tensor")
    x, y, _ = load_pairs(tmp_path / "darcy.h5")
    x2, y2, meta = load_pairs(tmp_path / "darcy_pdebench.hdf5")
    assert meta["layout"] == "pdebench-tensor"
    assert x.numpy().tobytes() == x2.numpy().tobytes() and y.numpy().tobytes() == y2.numpy().tobytes()


def write_pdekit(path):
    from pdekit.data import generate
    from pdekit.problems import get_problem

    generate(get_problem("heat_1d").from_params(16, {"nt": 4}), 3, 0, path, quiet=True)


def _break(path, what):
    with h5py.File(path, "a") as f:
        if what == "pdekit-short-t":
            t = f["coords/t"][()]
            del f["coords/t"]
            f["coords/t"] = t[:3]
        elif what == "pdekit-long-x":
            del f["coords/x"]
            f["coords/x"] = np.arange(32) / 32
        elif what == "well-times":
            t = f["dimensions/time"][()]
            del f["dimensions/time"]
            f["dimensions/time"] = np.stack([t * (i + 1) for i in range(30)])
        elif what == "well-coords":
            x = f["dimensions/x"][()]
            del f["dimensions/x"]
            f["dimensions/x"] = np.stack([x * (1 + i / 30) for i in range(30)])
        elif what == "seed-times":
            f["0003/grid/t"][1] += 0.5
        if what == "no-x":
            del f["x-coordinate"]
        elif what == "flat-tensor":
            del f["tensor"]
            f["tensor"] = np.zeros((4, 32), np.float32)
        elif what == "short-t":
            del f["t-coordinate"]
            f["t-coordinate"] = np.zeros(3)
        elif what == "well-shape":
            del f["t0_fields/density"]
            f["t0_fields/density"] = np.zeros((30, 5, 16, 8), np.float32)
        elif what == "well-missing":
            del f["t1_fields/velocity"]
        elif what == "seed-no-data":
            del f["0002/data"]
        elif what == "well-no-axes":
            f["dimensions"].attrs["spatial_dims"] = []
            for axis in ("x", "y"):
                del f[f"dimensions/{axis}"]
        elif what == "tensor-group":
            del f["tensor"]
            f.create_group("tensor")
        elif what == "well-scalar-short":
            f["scalars/Re"] = np.arange(3.0)
            f["scalars/Re"].attrs.update({"sample_varying": True, "time_varying": False})
        elif what == "well-scalars-array":
            del f["scalars"]
            f["scalars"] = np.zeros(3)


@pytest.mark.parametrize("writer, what, fragment", [
    (write_pdebench_tensor, "no-x", "lacks 'x-coordinate'"),
    (write_pdebench_tensor, "flat-tensor", "array 'tensor' has shape (4, 32), expected (N, T, X"),
    (write_pdebench_tensor, "short-t", "array 't-coordinate' has shape (3,)"),
    (write_the_well, "well-shape", "array 't0_fields/density' has shape (30, 5, 16, 8), expected (30, 5, 16, 16)"),
    (write_the_well, "well-missing", "lacks 't1_fields/velocity'"),  # its group named
    (write_pdebench_seeds, "seed-no-data", "lacks '0002/data'"),
    (write_pdekit, "pdekit-short-t", "array 'fields/u' has shape (3, 4, 16), expected (3, 3, 16)"),
    (write_pdekit, "pdekit-long-x", "coordinate 'x' has 32 points, the data have 16"),
    (write_the_well, "well-times", "its trajectories are stored at different times"),
    (write_the_well, "well-coords", "different x coordinates ('dimensions/x' rows differ)"),  # was a shape error
    (write_pdebench_seeds, "seed-times", "'0003/grid/t' differs from '0000/grid/t'"),
    # entries of another kind than the layout's: were raw AttributeErrors
    (write_pdebench_tensor, "tensor-group", "breaks its pdebench-tensor layout (AttributeError"),
    (write_the_well, "well-no-axes", "'dimensions' names no spatial axis"),  # was "(trajectories, time, )"
    (write_the_well, "well-scalars-array", "breaks its the-well layout (AttributeError"),
    (write_the_well, "well-scalar-short", "array 'scalars/Re' has shape (3,), expected (30,): one value per trajectory"),
])
def test_broken_layouts_are_refused_naming_the_array(tmp_path, run_cli, writer, what, fragment):
    path = tmp_path / "broken.h5"
    writer(path)
    _break(path, what)
    with pytest.raises(DataFileError) as err:
        load_pairs(path)
    assert fragment in str(err.value)
    code, _, stderr = run_cli("convert", path, tmp_path / "out.h5")
    assert code == 2 and fragment in stderr and "Traceback" not in stderr
    assert not (tmp_path / "out.h5").exists()


def test_outputs_not_named_as_hdf5_are_refused_before_anything_is_written(tmp_path):
    """The files written are HDF5 whatever their name: 'x.npz' or 'x.csv' would mislead the next reader."""
    from pdekit.data.generate import generate
    from pdekit.errors import PdekitError
    from pdekit.problems import get_problem

    write_pdebench_tensor(tmp_path / "a.hdf5")
    for name in ("x.npz", "x.CSV", "x"):
        with pytest.raises(PdekitError, match="the file written is HDF5"):
            convert(tmp_path / "a.hdf5", tmp_path / name)
        with pytest.raises(PdekitError, match="the file written is HDF5"):
            generate(get_problem("heat_1d").from_params(16, {}), 1, 0, tmp_path / name, quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.hdf5"]
    convert(tmp_path / "a.hdf5", tmp_path / "b.HDF5")  # any HDF5 suffix, any case
    assert (tmp_path / "b.HDF5").exists()


def test_the_wells_fields_constant_in_time_are_inputs_not_predicted(tmp_path):
    """A mask stored with time_varying false was a field: the model predicted (copied) it, and its
    trivially right copy entered every error. It is an input, after the state, as The Well reads it."""
    from pdekit.data.trajectories import load_trajectories

    path = tmp_path / "w.hdf5"
    u = write_the_well(path, n=4)
    mask = (np.random.default_rng(0).random((4, 16, 16)) > 0.5).astype(np.float32)
    with h5py.File(path, "r+") as f:
        f["t0_fields/mask"] = mask
        f["t0_fields/mask"].attrs.update({"dim_varying": [True, True], "sample_varying": True, "time_varying": False})
        f["t0_fields"].attrs["field_names"] = ["density", "mask"]
    f, source = open_source(path)
    with f:
        assert list(source.fields) == ["density", "velocity_x", "velocity_y"] and list(source.inputs) == ["mask"]
        assert source.channels() == (4, 3)
    x, y, _ = load_pairs(path)
    assert x.shape == (4, 4, 16, 16) and y.shape == (4, 3, 16, 16)
    assert x[:, 3].numpy().tobytes() == mask.tobytes() and x[:, 0].numpy().tobytes() == u[:, 0, ..., 0].tobytes()
    x, y, _ = load_pairs(path, trajectory=True, input_steps=2)  # two state slices as channels, the mask once
    assert x.shape == (4, 7, 3, 16, 16) and (x[:, 6] == torch.from_numpy(mask)[:, None]).all()
    from pdekit.data.dataset import PairTask
    assert PairTask(0, -1, True, 2).shape((4, 3), 2) == ((7, 3), 3)
    convert(path, tmp_path / "w.h5")  # kept as an input, once per sample (it was copied to every time)
    with h5py.File(tmp_path / "w.h5") as f:
        assert f["inputs/mask"].shape == (4, 16, 16) and "fields/mask" not in f
    assert load_pairs(tmp_path / "w.h5")[0].numpy().tobytes() == load_pairs(path)[0].numpy().tobytes()
    with pytest.raises(DataFileError, match=r"constant in time \(mask\), which rollouts do not read yet"):
        load_trajectories(path)
    for layout in ("pdebench-seeds", "pdebench-tensor"):
        with pytest.raises(DataFileError, match="no fields constant in time"):
            convert(path, tmp_path / "pdebench.h5", layout)


def test_the_wells_scalars_varying_by_trajectory_are_parameters(tmp_path):
    """A Reynolds number per trajectory was metadata no model saw (and a scalar over time, a list of
    every value, bloated a converted file's config): the first is a per-sample parameter, an input
    channel and a rollout's conditioning; the second is named as not read."""
    from pdekit.data.storage import read_meta
    from pdekit.data.trajectories import load_trajectories

    path = tmp_path / "w.hdf5"
    write_the_well(path, n=4)
    re = np.array([100.0, 200.0, 400.0, 800.0])
    with h5py.File(path, "r+") as f:
        f["scalars/Re"] = re
        f["scalars/energy"] = np.ones((4, 5))
        f["scalars/Re"].attrs.update({"sample_varying": True, "time_varying": False})
        f["scalars/energy"].attrs.update({"sample_varying": True, "time_varying": True})
    x, _, _ = load_pairs(path)
    assert x.shape == (4, 4, 16, 16) and (x[:, 3] == torch.tensor(re, dtype=torch.float32)[:, None, None]).all()
    assert load_trajectories(path)[2]["params"]["Re"].tolist() == re.tolist()
    convert(path, tmp_path / "w.h5")
    source = read_meta(tmp_path / "w.h5")["config"]["source"]
    assert source["scalars"] == {"nu": 0.02} and source["scalars_not_read"] == ["energy"]
    with h5py.File(tmp_path / "w.h5") as f:
        assert f["params/Re"][()].tolist() == re.tolist()


def test_pdekit_show_describes_a_data_file_as_pdekit_reads_it(tmp_path, run_cli):
    """A user's file said nothing before a run: `pdekit show FILE` gives its layout, grid, times,
    the channels predicted and read, per-sample parameters and metadata, and how to train on it."""
    path = tmp_path / "w.hdf5"
    write_the_well(path, n=4)
    with h5py.File(path, "r+") as f:
        f["t0_fields/mask"] = np.zeros((4, 16, 16), np.float32)
        f["t0_fields/mask"].attrs.update({"dim_varying": [True, True], "sample_varying": True, "time_varying": False})
        f["t0_fields"].attrs["field_names"] = ["density", "mask"]
        f["scalars/Re"] = np.array([100.0, 200.0, 400.0, 800.0])
        f["scalars/Re"].attrs.update({"sample_varying": True, "time_varying": False})
    code, out, err = run_cli("show", path)
    assert code == 0, err
    lines = [line.split(None, 1) for line in out.splitlines()[1:-1]]
    assert out.splitlines()[0] == f"{path}: the-well (heat_test); 4 samples, time-dependent"
    assert dict((k, v.strip()) for k, v in lines if k in ("grid", "times", "fields", "inputs")) == {
        "grid": "16 x 16 (x: 0 .. 0.9375, y: 0 .. 0.9375), read as nodes (data.grid: auto)",
        "times": "5 stored, t = 0 .. 1, step 0.25",
        "fields": "density, velocity_x, velocity_y (the states a model predicts)",
        "inputs": "mask (constant in time, read beside the state)"}
    assert "  per sample           Re, 100 .. 800 (an input channel; a rollout's conditioning)" in out
    assert f"train on it: a recipe's data section with file: {path}" in out
    assert "or a rollout recipe" not in out  # (refused with a field constant in time)
    code, _, err = run_cli("show", tmp_path / "missing.h5")
    assert code == 2 and "is no problem, model, recipe or file" in err
    write_pdebench_tensor(tmp_path / "p.hdf5", n=4)  # cell centres, as PDEBench stores periodic data: a hint
    code, out, _ = run_cli("show", tmp_path / "p.hdf5")
    assert code == 0 and "its points are cell centres (x_0 = half a spacing): if the data are periodic, say " \
        "data.grid: periodic" in out
    assert "cell centres" not in run_cli("show", path)[1]  # (The Well's grid: from 0)
    (tmp_path / "empty.h5").write_bytes(b"")
    code, _, err = run_cli("show", tmp_path / "empty.h5")
    assert code == 2 and "is named as an HDF5 file but is not one" in err


def test_the_wells_coordinates_stored_per_trajectory_read_as_one_grid(tmp_path):
    """Coordinates and times with one (equal) row per trajectory are the same grid."""
    path = tmp_path / "rows.h5"
    write_the_well(path)
    with h5py.File(path, "r+") as f:
        for axis in ("x", "time"):
            values = f[f"dimensions/{axis}"][()]
            del f[f"dimensions/{axis}"]
            f[f"dimensions/{axis}"] = np.stack([values] * 30)
    f, source = open_source(path)
    with f:
        assert source.space == (16, 16) and np.array_equal(source.coords["x"], np.arange(16) / 16)
        assert source.nt == 5


def test_a_chunk_that_does_not_decompress_is_a_data_file_error(tmp_path):
    """A corrupt compressed chunk failed with h5py's bare OSError from every reader."""
    import h5py

    from pdekit.data.dataset import Split
    from pdekit.data.sources import StreamedPairs
    from pdekit.data.trajectories import load_trajectories

    path = tmp_path / "corrupt.h5"
    with h5py.File(path, "w") as f:
        f["x-coordinate"], f["t-coordinate"] = np.arange(64) / 64, np.arange(4.0)
        f.create_dataset("tensor", data=np.random.default_rng(0).random((8, 4, 64), np.float32), chunks=(1, 4, 64),
                         compression="gzip")
        offset = f["tensor"].id.get_chunk_info(7).byte_offset  # the last sample's chunk
    with open(path, "r+b") as raw:
        raw.seek(offset + 16)
        raw.write(b"\xff" * 64)
    for read in (lambda: load_pairs(path), lambda: load_trajectories(path),
                 lambda: StreamedPairs(Split(str(path)), buffer=4)):
        with pytest.raises(DataFileError, match="'.*corrupt.h5': reading its data failed \\(corrupt or truncated"):
            read()


def test_converted_files_keep_text_scalars_and_the_device_type(tmp_path):
    """The Well's text scalars reach the converted file's config as text; a pdekit file converted to
    pdekit keeps the device type its bytes belong to."""
    from pdekit.data.storage import read_meta

    write_the_well(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.h5", "a") as f:
        f["scalars/name"] = b"abc"
    convert(tmp_path / "w.h5", tmp_path / "w_pdekit.h5")
    assert read_meta(tmp_path / "w_pdekit.h5")["config"]["source"]["scalars"]["name"] == "abc"
    write_pdekit(tmp_path / "p.h5")
    convert(tmp_path / "p.h5", tmp_path / "p2.h5")
    assert read_meta(tmp_path / "p2.h5")["device_type"] == "cpu"


def test_unknown_layout_and_existing_output_are_refused(tmp_path, run_cli):
    with h5py.File(tmp_path / "odd.h5", "w") as f:
        f["something"] = np.zeros(3)
    code, _, err = run_cli("convert", tmp_path / "odd.h5", tmp_path / "out.h5")
    assert code == 2 and "no layout pdekit reads (top level: something)" in err and "pdebench-tensor" in err
    write_pdebench_tensor(tmp_path / "a.hdf5")
    (tmp_path / "out.h5").write_text("keep me")
    code, _, err = run_cli("convert", tmp_path / "a.hdf5", tmp_path / "out.h5")
    assert code == 2 and "exists" in err and (tmp_path / "out.h5").read_text() == "keep me"
    code, _, err = run_cli("convert", tmp_path / "a.hdf5", tmp_path / "w.h5", "--layout", "pdebench-variables")
    assert code == 2 and "variables layout names its arrays" in err


def test_axes_pdebench_cannot_name_are_refused_and_leave_no_file(tmp_path):
    """A Well file on polar axes (r, theta) converts to pdekit's layout, which keeps the names; the
    PDEBench layouts name their axes x, y, z, so the export is refused, and no .tmp file is left."""
    write_the_well(tmp_path / "w.hdf5")
    with h5py.File(tmp_path / "w.hdf5", "a") as f:
        f["dimensions"].attrs["spatial_dims"] = ["r", "theta"]
        f["dimensions/r"] = f["dimensions/x"][()]
        f["dimensions/theta"] = f["dimensions/y"][()]
    convert(tmp_path / "w.hdf5", tmp_path / "p.h5")
    with h5py.File(tmp_path / "p.h5") as f:
        assert sorted(f["coords"]) == ["r", "t", "theta"]
    with pytest.raises(DataFileError, match="name their axes x, y; this data's are r, theta: keep it in the pdekit"):
        convert(tmp_path / "p.h5", tmp_path / "b.hdf5", "pdebench-seeds")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.h5", "w.hdf5"]
    # axes in another order (y, x): kept through pdekit's layout (whose coords HDF5 lists alphabetically),
    # so the export is refused as the direct one is, not written with the axes swapped
    with h5py.File(tmp_path / "w.hdf5", "a") as f:
        f["dimensions"].attrs["spatial_dims"] = ["y", "x"]
    convert(tmp_path / "w.hdf5", tmp_path / "yx.h5")
    for path in (tmp_path / "w.hdf5", tmp_path / "yx.h5"):
        with pytest.raises(DataFileError, match="name their axes x, y; this data's are y, x"):
            convert(path, tmp_path / "b.hdf5", "pdebench-seeds")


def test_a_failed_pdebench_export_leaves_no_temporary_file(tmp_path, monkeypatch):
    from pdekit.data import formats

    write_pdebench_tensor(tmp_path / "a.hdf5")

    def interrupted(*args):
        with h5py.File(args[0], "w") as f:
            f["tensor"] = np.zeros(3)
        raise KeyboardInterrupt

    monkeypatch.setattr(formats, "_write_pdebench", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert(tmp_path / "a.hdf5", tmp_path / "b.hdf5", "pdebench-tensor")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.hdf5"]


def test_a_pdekit_file_of_an_unknown_problem_without_its_channels_is_refused_clearly(tmp_path):
    from pdekit.data import generate
    from pdekit.problems import get_problem

    generate(get_problem("heat_1d").from_params(16, {"nt": 3}), 2, 0, tmp_path / "h.h5", quiet=True)
    with h5py.File(tmp_path / "h.h5", "a") as f:
        f.attrs["problem"] = "future_problem"
    with pytest.raises(DataFileError, match="problem 'future_problem' is not one this pdekit knows, and the file does "
                                            "not list its own fields"):
        load_pairs(tmp_path / "h.h5")


def test_steady_data_pdebench_cannot_hold_are_refused_with_the_way_out(tmp_path):
    """PDEBench's tensor layout holds steady data as one input (nu) and one field: one field without an
    input would come back as a trajectory without times; several fields fit no PDEBench layout."""
    from pdekit.data import generate
    from pdekit.problems import get_problem

    generate(get_problem("cavity_2d").from_params(9, {"solve_resolution": 17}), 2, 0, tmp_path / "c.h5", quiet=True)
    with pytest.raises(DataFileError, match="holds one field and one input; this data has fields .*keep it in the "
                                            "pdekit layout"):
        convert(tmp_path / "c.h5", tmp_path / "c.hdf5", "pdebench-tensor")
    from pdekit.data.formats import write_pdebench

    f, source = open_source(tmp_path / "c.h5")
    with f:
        source.fields = {"u": source.fields["u"]}
        source.inputs = {}
        with pytest.raises(DataFileError, match="holds one field and one input; this data has fields \\['u'\\] and "
                                                "inputs \\[\\]: keep it in the pdekit layout"):
            write_pdebench(str(tmp_path / "u.hdf5"), source)


def test_seed_groups_are_read_in_numeric_order(tmp_path):
    u = write_pdebench_seeds(tmp_path / "s.hdf5", n=12)
    with h5py.File(tmp_path / "s.hdf5", "a") as f:
        for i in range(12):
            f.move(f"{i:04d}", str(i))  # unpadded names: "10" sorts before "2" as text
    f, source = open_source(tmp_path / "s.hdf5")
    with f:
        assert np.array_equal(source.fields["c0"](0, 12, None), u[..., 0])


def _quick_recipe(tmp_path, **data):
    return {"name": "foreign", "data": {"n_train": 24, "n_test": 6, **data},
            "model": {"name": "fno", "modes": 6, "width": 16, "depth": 2},
            "train": {"epochs": 40, "batch_size": 4, "lr": 5e-3, "threads": 2},
            "eval": {"timing_samples": 2, "plot_samples": 1}}


def test_recipes_on_files_name_the_keys_that_ask_too_much_of_them(tmp_path):
    """The counts named the test split's keys for data.file when the test samples came from
    data.test_file, and left n_test out of the sum where they did not; a rollout named no key; a
    steady file took time indices and ignored them."""
    from pdekit.recipes import load_recipe

    write_pdebench_tensor(tmp_path / "a.hdf5", n=40)
    write_pdebench_tensor(tmp_path / "t.hdf5", n=6)
    write_pdebench_darcy(tmp_path / "d.hdf5")

    def refused(kind="operator", **data):
        raw = _quick_recipe(tmp_path, **data)
        if kind == "rollout":
            raw = {"name": "r", "kind": "rollout", "data": raw["data"], "model": {"name": "unet"},
                   "rollout": {"history": 1, "steps": 1}}
        with pytest.raises(ConfigError) as err:
            load_recipe(raw)
        return str(err.value)

    a, t = str(tmp_path / "a.hdf5"), str(tmp_path / "t.hdf5")
    assert "holds 40 samples; data.n_train = 36, data.n_val = 4 and data.n_test = 6 need 46 from it" in \
        refused(file=a, n_train=36)
    assert "holds 40 samples; data.n_train = 38 and data.n_val = 4 need 42 from it" in refused(file=a, test_file=t, n_train=38)
    assert "'" + t + "' holds 6 samples; data.n_test = 8 need 8 from it" in refused(file=a, test_file=t, n_test=8)
    assert "holds 40 trajectories; data.n_train = 36, data.n_val = 4 and data.n_test = 6 need 46 from it" in \
        refused("rollout", file=a, n_train=36)
    assert "holds steady data (they would be ignored)" in refused(file=str(tmp_path / "d.hdf5"), n_train=2, n_test=1,
                                                                   n_val=1, target_time=3)
    write_pdebench_tensor(tmp_path / "fine.hdf5", n=6, nx=64)  # a test file on another grid: transfer, for an operator
    fine = {"file": a, "test_file": str(tmp_path / "fine.hdf5")}
    load_recipe(_quick_recipe(tmp_path, **fine))
    with pytest.raises(ConfigError, match="data.test_file is stored on a grid of 64 points, another than data.file's, "
                                          "and unet is not resolution-invariant"):
        load_recipe({**_quick_recipe(tmp_path, **fine), "model": {"name": "unet"}})
    stencil = {"name": "s", "kind": "rollout", "data": {"file": a, "n_train": 30, "n_val": 4, "n_test": 6},
               "model": {"name": "stencil"}, "rollout": {"history": 1, "steps": 1, "target": "derivative"}}
    with pytest.raises(ConfigError, match="model stencil wraps around the grid's ends"):  # when it loads, not later
        load_recipe(stencil)
    from pdekit.recipes import load_saved_recipe  # a run recorded with them (accepted before) reads them as unset

    assert load_saved_recipe(stencil).data.grid == "periodic"  # (a run from before: it wrapped around, rebuilt so)

    saved = _quick_recipe(tmp_path, file=str(tmp_path / "d.hdf5"), n_train=2, n_test=1, n_val=1, target_time=3)
    assert load_saved_recipe(saved).data.target_time == -1


@pytest.mark.parametrize("layout", ["pdebench", "the-well"])
def test_foreign_files_train_a_quick_fno_through_a_recipe(tmp_path, monkeypatch, layout):
    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe

    monkeypatch.chdir(tmp_path)
    if layout == "pdebench":
        write_pdebench_tensor(tmp_path / "train.hdf5", n=32)  # 24 train, 2 validation, 6 test
        raw = _quick_recipe(tmp_path, file=str(tmp_path / "train.hdf5"))
    else:
        write_the_well(tmp_path / "train.hdf5", n=26, seed=0)  # 24 train, 2 validation
        write_the_well(tmp_path / "test.hdf5", n=6, seed=1)
        raw = _quick_recipe(tmp_path, file=str(tmp_path / "train.hdf5"), test_file=str(tmp_path / "test.hdf5"))
    results = run_recipe(load_recipe(raw), "runs/foreign", quiet=True)
    saved = json.loads((tmp_path / "runs/foreign/metrics.json").read_text())
    assert saved["data_layout"] == ("pdebench-tensor" if layout == "pdebench" else "the-well")
    assert saved["solver_seconds_per_sample"] is None and saved["speedup"] is None
    text = (tmp_path / "runs/foreign/report.md").read_text()
    # no solver for a user's file, no transfer files: the report says so once, with no empty sections
    assert "The surrogate takes" in text and "The solver ran on exactly" not in text and "Resolution transfer" not in text
    # far better than the trivial guess y = x (the heat flow damps every mode)
    x, y, _ = load_pairs(raw["data"].get("test_file") or raw["data"]["file"], start=0 if layout == "the-well" else 26)
    identity = float(((x - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).mean())
    assert results["test_rel_l2"] < 0.2 * identity, (results["test_rel_l2"], identity)
    # a file recording other physics (PDEBench's root attributes, The Well's scalars) is said to
    import shutil

    from pdekit.pipeline import evaluate_run

    shutil.copy(tmp_path / "train.hdf5", tmp_path / "other.hdf5")
    with h5py.File(tmp_path / "other.hdf5", "r+") as f:
        if layout == "pdebench":
            f.attrs["beta"] = 1.0
        else:
            del f["scalars/nu"]
            f["scalars/nu"] = 0.05
    if layout == "pdebench":
        with h5py.File(tmp_path / "train.hdf5", "r+") as f:
            f.attrs["beta"] = 0.4  # (after training: the run's data digest reads the arrays only)
    other = evaluate_run("runs/foreign", data=str(tmp_path / "other.hdf5"), quiet=True)
    said = "beta = 1.0 (trained on 0.4)" if layout == "pdebench" else "nu = 0.05 (trained on 0.02)"
    assert any(said in note and "records other parameters than the training file" in note
               for note in other["data_notes"]), other["data_notes"]


def test_a_files_grid_is_periodic_where_the_well_says_every_axis_is_or_data_grid_does(tmp_path):
    """A user's file was always taken for nodes (the U-Net then padded periodic data with zeros,
    3x less accurate on KS): The Well's files with a PERIODIC condition per axis, also converted to
    pdekit's schema, are periodic; one axis periodic, a wall or another layout are nodes, and
    data.grid says it outright (not for a space-time trajectory, whose time axis has both ends)."""
    import h5py

    from pdekit.data.formats import file_grid
    from pdekit.recipes import load_recipe

    write_the_well(tmp_path / "one.hdf5", n=4)  # x_periodic only, 2D
    write_the_well(tmp_path / "both.hdf5", n=4)
    with h5py.File(tmp_path / "both.hdf5", "r+") as f:
        f.create_group("boundary_conditions/y_periodic").attrs.update({"bc_type": "PERIODIC", "associated_dims": ["y"]})
    write_the_well(tmp_path / "wall.hdf5", n=4)
    with h5py.File(tmp_path / "wall.hdf5", "r+") as f:
        f.create_group("boundary_conditions/y_wall").attrs.update({"bc_type": "WALL", "associated_dims": ["y"]})
    write_the_well(tmp_path / "joint.hdf5", n=4)  # one group naming both axes; two groups for x alone
    write_the_well(tmp_path / "twice.hdf5", n=4)
    with h5py.File(tmp_path / "joint.hdf5", "r+") as f:
        del f["boundary_conditions/x_periodic"]
        f.create_group("boundary_conditions/xy").attrs.update({"bc_type": "PERIODIC", "associated_dims": ["x", "y"]})
    with h5py.File(tmp_path / "twice.hdf5", "r+") as f:
        f.create_group("boundary_conditions/x_again").attrs.update({"bc_type": "periodic", "associated_dims": ["x"]})
    assert file_grid(tmp_path / "joint.hdf5") == "periodic" and file_grid(tmp_path / "twice.hdf5") == "nodes"
    for name in ("joint", "twice"):  # converted: the same grid (the conditions' axes were dropped, then counted)
        convert(tmp_path / f"{name}.hdf5", tmp_path / f"{name}.h5")
        assert file_grid(tmp_path / f"{name}.h5") == file_grid(tmp_path / f"{name}.hdf5")
    convert(tmp_path / "both.hdf5", tmp_path / "both.h5")
    write_pdebench_tensor(tmp_path / "pdebench.hdf5", n=4)
    grids = {name: file_grid(tmp_path / name) for name in ("one.hdf5", "both.hdf5", "wall.hdf5", "both.h5",
                                                            "pdebench.hdf5")}
    assert grids == {"one.hdf5": "nodes", "both.hdf5": "periodic", "wall.hdf5": "nodes", "both.h5": "periodic",
                     "pdebench.hdf5": "nodes"}
    # a file pdekit made is read on its problem's grid, as the data the recipe makes (it was taken for nodes)
    from pdekit.data.generate import generate
    from pdekit.problems import get_problem

    for name, grid in (("heat_1d", "periodic"), ("darcy_2d", "nodes")):
        generate(get_problem(name).from_params(16 if name == "heat_1d" else 15, {}), 1, 0, tmp_path / f"{name}.h5",
                 quiet=True)
        assert file_grid(tmp_path / f"{name}.h5") == grid

    def grid(name, **data):
        raw = _quick_recipe(tmp_path, file=str(tmp_path / name), n_train=2, n_val=1, n_test=1, **data)
        return load_recipe({**raw, "eval": {"resolutions": []}}).data.resolved_grid()

    assert grid("both.hdf5") == "periodic" and grid("pdebench.hdf5") == "nodes"
    # a run trained on the file's other grid (by an earlier pdekit, which took every file for nodes)
    # is not resumed on this one
    import torch

    from pdekit.pipeline import run_recipe

    raw = _quick_recipe(tmp_path, file=str(tmp_path / "both.hdf5"), n_train=2, n_val=1, n_test=1)
    raw = {**raw, "train": {**raw["train"], "epochs": 1}, "eval": {**raw["eval"], "resolutions": []}}
    run_recipe(load_recipe(raw), str(tmp_path / "run"), quiet=True)
    state = torch.load(tmp_path / "run/checkpoint.pt", weights_only=True)
    assert state["grid"] == "periodic"
    torch.save({**state, "grid": "nodes"}, tmp_path / "run/checkpoint.pt")
    with pytest.raises(DataFileError, match="was trained on a nodes grid, and the data's is periodic now \\(data.grid\\): train again"):
        run_recipe(load_recipe(raw), str(tmp_path / "run"), quiet=True)
    assert grid("pdebench.hdf5", grid="periodic") == "periodic" and grid("both.hdf5", grid="nodes") == "nodes"
    with pytest.raises(ConfigError, match="data.grid=periodic does not apply to data.trajectory"):
        grid("pdebench.hdf5", grid="periodic", trajectory=True)


def test_recipe_with_a_file_is_checked_before_any_work(tmp_path):
    from pdekit.errors import ConfigError
    from pdekit.recipes import load_recipe

    write_pdebench_tensor(tmp_path / "a.hdf5", n=10)
    with pytest.raises(ConfigError, match="holds 10 samples"):
        load_recipe(_quick_recipe(tmp_path, file=str(tmp_path / "a.hdf5")))
    raw = _quick_recipe(tmp_path, file=str(tmp_path / "a.hdf5"), n_train=5, n_val=1, n_test=4, target_time=9)
    with pytest.raises(ConfigError, match="outside the 6 stored times"):
        load_recipe(raw)
    raw = _quick_recipe(tmp_path, file=str(tmp_path / "missing.hdf5"))
    with pytest.raises(DataFileError, match="does not exist"):
        load_recipe(raw)


def test_eval_data_checks_every_axis_and_names_the_runs_own_file(tmp_path, monkeypatch, capsys):
    """A model that is not resolution-invariant refuses a grid of equal height and other width; the
    run's own data.file is scored with a note that its training samples are in it."""
    from pdekit.errors import DataFileError
    from pdekit.pipeline import evaluate_run, run_recipe
    from pdekit.recipes import load_recipe

    monkeypatch.chdir(tmp_path)
    for name, ny in (("a.hdf5", 10), ("b.hdf5", 16)):
        nu = np.random.default_rng(0).uniform(1, 12, (6, 12, ny)).astype(np.float32)
        with h5py.File(tmp_path / name, "w") as f:
            f["nu"], f["tensor"] = nu, (1 / nu)[:, None]
            f["x-coordinate"], f["y-coordinate"] = np.linspace(0, 1, 12), np.linspace(0, 1, ny)
    raw = {"name": "own", "data": {"file": "a.hdf5", "n_train": 4, "n_val": 1, "n_test": 1},
           "model": {"name": "resnet", "width": 4, "depth": 1}, "train": {"epochs": 1, "batch_size": 4},
           "eval": {"timing_samples": 1, "plot_samples": 1}}
    run_recipe(load_recipe(raw), "runs/own", quiet=True)
    with pytest.raises(DataFileError, match="is at resolution 12 x 16; resnet is not resolution-invariant and was "
                                            "trained at 12 x 10"):
        evaluate_run("runs/own", "b.hdf5")
    capsys.readouterr()
    evaluate_run("runs/own", "a.hdf5")
    assert "'a.hdf5' is the run's own data.file, whose samples 0 .. 4 trained or validated" in capsys.readouterr().err
