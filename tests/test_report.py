"""Every plot of a report has labelled axes and honest ranges, and the report opens with a verdict."""

import torch

from pdekit.eval import report


class _Recipe:
    class eval:  # noqa: N801 (mirrors the recipe's section)
        plot_samples = 2
        timing_rounds = 3


def _results(transfer):
    return {"test_rel_l2": 0.0120, "median_rel_l2": 0.011, "frmse_low": 1e-3, "frmse_mid": 5e-4, "frmse_high": 1e-4,
            "resolution": 64, "resolution_transfer": transfer, "model_seconds_per_sample": 1e-3,
            "timed_rel_l2": 0.0121, "device": "cpu", "speed_verdict": "At equal accuracy ...",
            "solver_ladder": [{"solve_resolution": 256, "rel_l2": 0.0, "seconds_per_sample": 0.1},
                              {"solve_resolution": 64, "rel_l2": 0.02, "seconds_per_sample": 0.01}],
            "matched_setting": {"solve_resolution": 256, "rel_l2": 0.0, "seconds_per_sample": 0.1}}


def _axes(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def test_every_operator_plot_has_labelled_axes_and_readable_ranges(tmp_path):
    plt = report._pyplot()
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_rel_l2": 0.5 / e} for e in range(1, 4)]
    x, y = torch.randn(3, 1, 16, 16), torch.randn(3, 1, 16, 16)
    results = _results({"128": 0.01201})
    figures = [report._loss_curves(plt, history, tmp_path / "a.png"),
               report._predictions(plt, x, y, y + 0.1, 2, tmp_path / "b.png"),
               report._predictions(plt, x[:, :, 0], y[:, :, 0], y[:, :, 0], 2, tmp_path / "c.png"),
               report._frequency(plt, results, tmp_path / "d.png"),
               report._resolution(plt, results, tmp_path / "e.png"),
               report._speed(plt, results, tmp_path / "f.png")]
    for fig in figures:
        for ax in _axes(fig):
            assert ax.get_xlabel() and ax.get_ylabel(), (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())
    # a 0.08% change in error is drawn from zero, not as a cliff across the whole y range
    low, high = _axes(figures[4])[0].get_ylim()
    assert low == 0 and high >= 0.0120
    # an exact solver row is drawn at the floor, not at 1e-16
    assert _axes(figures[5])[0].get_ylim()[0] > 1e-12
    # short loss curves show their points
    assert _axes(figures[0])[0].get_lines()[0].get_marker() == "o"
    # rows of an L-BFGS phase are iterations, said on the axis and marked where they start
    mixed = [{**h, "phase": "adam"} for h in history] + [{"phase": "lbfgs", "epoch": 4, "train_loss": 0.1,
                                                          "val_rel_l2": 0.1}]
    ax = _axes(report._loss_curves(plt, mixed, tmp_path / "g.png"))[0]
    assert ax.get_xlabel() == "Adam epoch, then L-BFGS iteration" and ax.get_lines()[-1].get_xdata()[0] == 3.5


def test_verdict_says_accuracy_speed_and_transfer():
    text = report.verdict({**_results({"128": 0.030}), "val_rel_l2": 0.011, "weights_epoch": 40})
    assert text.startswith("On the test split the surrogate's mean relative L2 error is 0.012 (median 0.011)")
    assert "At equal accuracy" in text and "Resolution transfer does not hold: the error is 0.03 at 128" in text
    assert "Resolution transfer holds" in report.verdict({**_results({"128": 0.0125}), "val_rel_l2": None})


def test_pinn_report_plots_have_labelled_axes_and_a_verdict(tmp_path, monkeypatch):
    import matplotlib.figure

    from pdekit.pipeline import run_recipe
    from pdekit.recipes import load_recipe

    saved = []
    real = matplotlib.figure.Figure.savefig

    def record(fig, path, *args, **kwargs):
        saved.append([(ax.get_xlabel(), ax.get_ylabel()) for ax in _axes(fig)])
        return real(fig, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    recipe = load_recipe("burgers_pinn", quick=True, overrides=["train.epochs=20", "train.lbfgs_steps=0",
                                                                   "train.collocation=200", "train.log_every=5"])
    run_recipe(recipe, str(tmp_path / "run"), quiet=True)
    assert len(saved) == 2 and all(x and y for labels in saved for x, y in labels), saved
    assert saved[0][0] == ("x", "t")
    text = (tmp_path / "run/report.md").read_text()
    assert "relative L2 error against the reference solution is" in text and "| meaning |" in text


def test_the_frequency_caveat_goes_with_non_periodic_grids():
    """The fRMSE bands treat every grid as periodic: reports of node-grid data (Darcy, the cavity,
    a user's file) say so, reports of periodic problems do not."""
    from types import SimpleNamespace

    from pdekit.data.config import DataSection

    def recipe(problem="burgers_1d", file="", grid="auto"):
        return SimpleNamespace(data=DataSection(problem=problem, file=file, grid=grid))

    assert report._periodic(recipe("burgers_1d")) and report._periodic(recipe("navier_stokes_2d"))
    assert not report._periodic(recipe("darcy_2d")) and not report._periodic(recipe("cavity_2d"))
    assert not report._periodic(recipe(file="data.h5", grid="nodes"))
    assert report._periodic(recipe(file="data.h5", grid="periodic"))  # a user's periodic file (data.grid)


def test_prediction_panels_name_their_channels_and_a_constant_input(tmp_path):
    """The cavity's panels showed one of u, v, p without saying which, and its input, log Re
    constant over the grid, as a field with a meaningless colour bar."""
    from types import SimpleNamespace

    from pdekit.problems import get_problem

    def recipe(problem, resolution, params):
        data = SimpleNamespace(problem=problem, file=None, resolution=resolution, params=params)
        return SimpleNamespace(data=data, data_problem=lambda: get_problem(problem).from_params(resolution, params))

    assert report._names(recipe("cavity_2d", 33, {"re_max": 1000.0})) == ("log re", "u")
    assert report._names(recipe("darcy_2d", 85, {})) == ("a", "u")
    plt = report._pyplot()
    x, y = torch.full((2, 1, 8, 8), 5.3), torch.randn(2, 1, 8, 8)
    fig = report._predictions(plt, x, y, y, 1, tmp_path / "p.png", names=("log re", "u"))
    titles = [ax.get_title() for ax in _axes(fig)]
    assert titles[0] == "test sample 0: input log re (constant 5.3)" and titles[1] == "test sample 0: u: truth"


def test_tiny_or_huge_values_carry_their_power_of_ten_in_the_labels_not_over_the_titles(tmp_path):
    """Errors of 1e-5 made matplotlib print "1e-5" above the axis or colour bar, over the panel's title."""
    plt = report._pyplot()
    for shape in ((2, 1, 32), (2, 1, 8, 8)):
        torch.manual_seed(0)
        x, y = torch.rand(*shape) * 3e4, torch.rand(*shape)
        fig = report._predictions(plt, x, y, y + 2e-5 * torch.randn(*shape), 1, tmp_path / "p.png")
        fig.canvas.draw()
        offsets = [axis.get_offset_text().get_text() for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)]
        assert offsets == [""] * len(offsets), offsets
        said = [ax.get_ylabel() if len(shape) == 3 else ax.get_title() for ax in _axes(fig)]
        assert said[0].endswith("(× 1e+04)") and "×" not in said[1] and said[-1].endswith("(× 1e-05)"), said
    assert report._scale(torch.tensor([0.5, -2e-3]).numpy()) == (1.0, "")  # ordinary ranges untouched
    # a nearly constant error (0.01 +- 1e-8) got matplotlib's offset, "1e-8+1e-2", over its title
    x, y = torch.rand(2, 1, 32), torch.rand(2, 1, 32)
    fig = report._predictions(plt, x, y, y + 0.01 + 1e-8 * torch.randn(2, 1, 32), 1, tmp_path / "p.png")
    assert [axis.get_offset_text().get_text() for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)] == [""] * 6
    assert fig.axes[2].get_yticklabels()[1].get_text().startswith("0.00999"), fig.axes[2].get_yticklabels()


def test_the_solver_ladder_is_drawn_as_labelled_points_not_a_line_that_doubles_back(tmp_path):
    """A rollout's ladder goes back to a finer step on a coarser grid (ks_rollout: 16 at dt 0.2, then
    0.1): drawn as one line in its order, the line doubled back, and no point said which setting."""
    rows = [{"solve_resolution": 1024, "dt": 0.05, "rel_l2": 1e-7, "seconds_per_sample": 8e-3},
            {"solve_resolution": 16, "dt": 0.2, "rel_l2": 1.3, "seconds_per_sample": 1.7e-3},
            {"solve_resolution": 16, "dt": 0.1, "rel_l2": 1.3, "seconds_per_sample": 3e-3}]
    results = {**_results({}), "solver_ladder": rows, "matched_setting": None}
    ax = _axes(report._speed(report._pyplot(), results, tmp_path / "s.png"))[0]
    assert max(len(line.get_xdata()) for line in ax.get_lines() if line.get_linestyle() != ":") == 1
    assert [t.get_text() for t in ax.texts] == ["1024, dt 0.05", "16, dt 0.2", "16, dt 0.1"]  # (not 1.02e+03)
    # the data's setting, in the lower right corner, is labelled inside the axes (its label ran over the frame)
    fig = report._speed(report._pyplot(), _results({}), tmp_path / "s.png")
    fig.canvas.draw()
    renderer, ax = fig.canvas.get_renderer(), _axes(fig)[0]
    label, frame = ax.texts[0].get_window_extent(renderer), ax.get_window_extent(renderer)
    assert frame.x0 < label.x0 and label.x1 < frame.x1 and frame.y0 < label.y0 < label.y1 < frame.y1, (label, frame)


def test_the_setup_says_which_samples_and_times_and_the_grid(tmp_path):
    """A run on a user's file said "disjoint index ranges of seed 0" (no seed draws a file's samples),
    not where the test samples came from, nor which stored times the map joins."""
    import sys

    from pdekit.recipes import load_recipe

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_formats import write_pdebench_tensor

    results = {"resolution": 32, "params": 10, "train_seconds": 1.0, "weights_epoch": 1}
    line = report._setup(load_recipe("burgers_fno", quick=True), results)[0]
    assert line.endswith("(disjoint index ranges of seed 0); the input at t = 0 (stored time 0), the target at "
                         "t = 1 (stored time 1); grid periodic"), line
    write_pdebench_tensor(tmp_path / "a.hdf5", n=40)  # times 0, 0.2, ..., 1
    write_pdebench_tensor(tmp_path / "t.hdf5", n=6, nx=64)  # (stored finer: said)
    raw = {"name": "f", "data": {"file": str(tmp_path / "a.hdf5"), "test_file": str(tmp_path / "t.hdf5"), "n_train": 30,
                                 "n_val": 4, "n_test": 6, "target_time": 3}, "model": {"name": "fno"}}
    line = report._setup(load_recipe(raw), results)[0]
    assert line.endswith("(the file's samples 0 .. 29 train, 30 .. 33 validation; test: the first 6 of "
                         f"`{tmp_path / 't.hdf5'}`, stored on 64 points (resolution transfer)); the input at t = 0 (stored time 0), the target at t = 0.6 "
                         "(stored time 3); grid nodes"), line


def test_the_setup_says_how_many_processes_trained_a_run():
    """train_seconds of a run of two processes is not one process's: the setup says so."""
    from pdekit.recipes import load_recipe

    recipe = load_recipe("burgers_fno", quick=True)
    for processes, said in ((None, "s of training"), ([1], "s of training"), ([2], "s of training by 2 processes"),
                            ([2, 1], "s of training by 2 processes, then 1 process")):
        results = {"resolution": 32, "params": 10, "train_seconds": 1.0, "weights_epoch": 1,
                   "train_processes": processes}
        assert report._setup(recipe, results)[2].endswith(said)


def test_plots_of_a_users_file_name_its_fields(tmp_path):
    """The prediction panels said "input" and "output" for a user's file; they name what it stores."""
    import sys

    from pdekit.recipes import load_recipe

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_formats import write_pdebench_darcy, write_pdebench_variables

    write_pdebench_variables(tmp_path / "v.hdf5")
    write_pdebench_darcy(tmp_path / "d.hdf5")
    for path, names in (("v.hdf5", ("density", "density")), ("d.hdf5", ("nu", "u"))):
        raw = {"name": "f", "data": {"file": str(tmp_path / path), "n_train": 2, "n_val": 1, "n_test": 1},
               "model": {"name": "fno"}}
        assert report._names(load_recipe(raw)) == names


def test_timing_rounds_are_stated_and_a_single_round_is_no_median():
    class Recipe:
        class eval:  # noqa: N801
            solver_ladder, timing_rounds = True, 3

    results = {**_results({}), "timed_samples": 2, "solver_ladder": [], "solver_ladder_skipped": [],
               "model_first_call_seconds_per_sample": 0.1}
    assert "come from the median of 3 alternating rounds of the surrogate" in " ".join(report._solver_lines(Recipe, results))
    Recipe.eval.timing_rounds = 1
    assert "come from a single round, no median (eval.timing_rounds = 1)" in " ".join(report._solver_lines(Recipe, results))


def test_a_diverged_surrogate_still_gets_its_report_and_honest_panels(tmp_path):
    """A NaN test error or an infinite transfer error stopped the report at the error-against-
    resolution plot (set_ylim of NaN); a NaN transfer error passed the verdict when max() met it
    second; truth and prediction had colour scales of their own and the error's white was not 0."""
    import math

    plt = report._pyplot()
    for transfer in ({"128": float("inf")}, {"128": 0.01}):
        report._resolution(plt, {**_results(transfer), "test_rel_l2": float("nan")}, tmp_path / "r.png")
    for transfer in ({"128": 0.012, "256": float("nan")}, {"128": float("nan"), "256": 0.012}):
        assert "Resolution transfer does not hold" in report.verdict({**_results(transfer), "val_rel_l2": None})
    y = torch.randn(2, 1, 8, 8)
    fig = report._predictions(plt, y, y, 0.9 * y + 0.05, 1, tmp_path / "p.png")
    truth, prediction, error = (ax.get_images()[0].get_clim() for ax in _axes(fig)[1:4])
    assert truth == prediction and math.isclose(error[0], -error[1])


def test_rollout_prediction_plots_of_3d_data_and_of_a_single_step(tmp_path):
    """A 3D rollout crashed its report (an (8, 8, 8) frame to imshow); one step drew empty
    space-time images: now the middle-z frames and the profiles at that step."""
    import numpy as np

    from pdekit.eval.rollout_report import _prediction_plot

    plt = report._pyplot()
    rng = np.random.default_rng(0)
    frames = _prediction_plot(plt, rng.random((5, 8, 8, 8)), rng.random((5, 8, 8, 8)), np.arange(1, 6) * 0.1,
                              tmp_path / "a.png", "vorticity")
    step = _prediction_plot(plt, rng.random((1, 32)), rng.random((1, 32)), np.array([0.1]), tmp_path / "b.png", "u")
    strip = _prediction_plot(plt, rng.random((4, 32)), rng.random((4, 32)), np.arange(1, 5) * 0.1, tmp_path / "c.png",
                             "u")
    assert (tmp_path / "a.png").stat().st_size > 0 and (tmp_path / "b.png").stat().st_size > 0
    # the field is named (it was "value", or nothing)
    assert all(ax.get_title().startswith("vorticity: ") for ax in _axes(frames)) and len(_axes(frames)) == 9
    assert _axes(step)[0].get_ylabel() == "u" and all(ax.get_title().startswith("u: ") for ax in _axes(strip))


def test_rollout_plots_name_the_field_of_a_problem_or_a_file(tmp_path):
    import sys

    from pdekit.recipes import load_recipe

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_formats import write_pdebench_variables

    assert report._names(load_recipe("ns_fno", quick=True))[1] == "vorticity"
    write_pdebench_variables(tmp_path / "v.hdf5")
    raw = {"name": "f", "kind": "rollout", "data": {"file": str(tmp_path / "v.hdf5"), "n_train": 2, "n_val": 1,
                                                    "n_test": 2}, "model": {"name": "fno", "modes": 4},
           "rollout": {"steps": 2}}
    assert report._names(load_recipe(raw))[1] == "density"


def test_a_solver_that_runs_on_the_cpu_is_said_to(tmp_path):
    """The cavity's and the channel flows' solvers run on the CPU whatever the device: a GPU run's
    speed figures named cuda for both; now the plot and the text name each one's device."""
    from pdekit.problems import get_problem

    assert get_problem("cavity_2d").solver_device == get_problem("obstacle_2d").solver_device == "cpu"
    assert get_problem("burgers_1d").solver_device is None
    assert get_problem("darcy_tensor_2d").from_params(85).solver_device == "cpu"  # always a sparse LU
    darcy = get_problem("darcy_2d")
    assert darcy.from_params(85, {"solver": "direct"}).solver_device == "cpu"
    assert darcy.from_params(85, {"solver": "cg"}).solver_device is None  # torch, where the inputs are
    plt = report._pyplot()
    both = {**_results({}), "device": "cuda", "solver_device": "cpu"}
    ax = _axes(report._speed(plt, both, tmp_path / "s.png"))[0]
    assert ax.get_xlabel() == "seconds per sample (surrogate on cuda, solver on cpu)"
    assert report._devices(both) == "cuda (the surrogate) and cpu (the solver, which runs only there)"
    assert report._devices({**both, "solver_device": "cuda"}) == "cuda" == report._devices({"device": "cuda"})
