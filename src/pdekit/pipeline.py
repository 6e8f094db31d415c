"""From a recipe to a run folder: generate (or reuse) the data, train, evaluate, report."""

from __future__ import annotations

import hashlib
import json
import os

from pdekit.data.dataset import Split
from pdekit.data.generate import generate
from pdekit.data.storage import canonical, dataset_identity
from pdekit.problems import get_problem
from pdekit.recipes import Recipe


def data_dir() -> str:
    """Where generated datasets are cached: $PDEKIT_DATA, else ~/.cache/pdekit/data."""
    return os.environ.get("PDEKIT_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "pdekit", "data")


def problem_for(recipe: Recipe, resolution: int | None = None):
    data = recipe.data
    cls = get_problem(data.problem)
    return cls.from_params(resolution or data.resolution or cls.default_resolution, data.params)


def dataset_file(problem, n: int, seed: int, first: int) -> str:
    """Cache path named by the hash of the dataset's identity, so equal data is generated once."""
    digest = hashlib.sha256(canonical(dataset_identity(problem, n, seed, first)).encode()).hexdigest()[:12]
    return os.path.join(data_dir(), f"{problem.name}-r{problem.resolution}-{first}-{first + n}-{digest}.h5")


def prepare_data(recipe: Recipe, quiet: bool = False, device: str = "cpu") -> dict:
    """Train file (samples 0 .. n_train - 1), test file (the next n_test) and one test file per
    transfer resolution (the same test samples, stored finer)."""
    d = recipe.data
    if d.file:  # a file given by the user, in any layout: nothing to generate
        test = Split(d.test_file, 0, d.n_test) if d.test_file else Split(d.file, d.n_train, d.n_test)
        return {"train": Split(d.file, 0, d.n_train), "test": test, "transfer": {}}
    files = {}
    problem = problem_for(recipe)
    for split, n, first in (("train", d.n_train, 0), ("test", d.n_test, d.n_train)):
        files[split] = dataset_file(problem, n, d.seed, first)
        generate(problem, n, d.seed, files[split], batch_size=d.batch_size, device=device, quiet=quiet, first=first)
    files["transfer"] = {}
    for r in recipe.eval.resolutions:
        p = problem_for(recipe, r)
        path = dataset_file(p, d.n_test, d.seed, d.n_train)
        generate(p, d.n_test, d.seed, path, batch_size=d.batch_size, device=device, quiet=quiet, first=d.n_train)
        files["transfer"][r] = path
    return files


def train_recipe(recipe: Recipe, run_dir: str, quiet: bool = False):
    """Generate (or reuse) the data and train; returns (trained model, data files)."""
    from pdekit.data.dataset import load_task
    from pdekit.train.trainer import resolve_device, train

    files = prepare_data(recipe, quiet=quiet, device=resolve_device(recipe.train.device).type)
    d = recipe.data
    x_train, y_train, _ = load_task(files["train"], d)
    x_test, y_test, _ = load_task(files["test"], d)
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "recipe.json"), "w") as fh:
        json.dump(recipe.raw, fh, indent=2, sort_keys=True)
    return train(recipe, run_dir, x_train, y_train, x_test, y_test, quiet=quiet), files


def run_recipe(recipe, run_dir: str, quiet: bool = False) -> dict:
    """Data, training, evaluation and report: the whole of `pdekit run`."""
    from pdekit.eval.evaluate import evaluate
    from pdekit.pinn.recipe import PinnRecipe, run_pinn

    if isinstance(recipe, PinnRecipe):
        return run_pinn(recipe, run_dir, quiet=quiet)

    trained, files = train_recipe(recipe, run_dir, quiet=quiet)
    return evaluate(trained, recipe, run_dir, files["test"], files["transfer"], quiet=quiet)


def evaluate_run(run_dir: str, data: str | None = None, json_out: str | None = None) -> tuple[dict, str]:
    """Evaluate a trained run on its own test split (report in the run folder) or on another
    file in any layout pdekit reads (report in <run_dir>/eval-<file name>); returns (metrics, report folder)."""
    from pdekit.data.dataset import load_task
    from pdekit.errors import DataFileError
    from pdekit.eval.evaluate import evaluate
    from pdekit.recipes import load_recipe
    from pdekit.train.trainer import load_trained

    trained, state = load_trained(run_dir)
    recipe = load_recipe(json.loads(state["recipe"]))
    if data is None:
        files = prepare_data(recipe, quiet=True)
        return evaluate(trained, recipe, run_dir, files["test"], files["transfer"], json_out=json_out), run_dir
    x, _, meta = load_task(data, recipe.data, limit=1)
    if recipe.data.file:
        trained_at = load_task(recipe.data.file, recipe.data, limit=1)[2]["resolution"]
    else:
        trained_at = problem_for(recipe).resolution
        if meta["problem"] is not None and meta["problem"] != recipe.data.problem:
            raise DataFileError(f"'{data}' holds {meta['problem']} data; the model was trained on {recipe.data.problem}")
    if x.shape[1] != state["in_channels"] or x.ndim - 2 != state["ndim"]:
        raise DataFileError(f"'{data}' has {x.shape[1]} input channel(s) in {x.ndim - 2}D; the model takes "
                            f"{state['in_channels']} in {state['ndim']}D")
    found = meta["resolution"]
    if not getattr(trained.model, "resolution_invariant", False) and found != trained_at:
        raise DataFileError(f"'{data}' is at resolution {found}; {recipe.model['name']} is not "
                            f"resolution-invariant and was trained at {trained_at}")
    out_dir = os.path.join(run_dir, "eval-" + os.path.splitext(os.path.basename(data))[0])
    return evaluate(trained, recipe, out_dir, data, {}, json_out=json_out), out_dir
