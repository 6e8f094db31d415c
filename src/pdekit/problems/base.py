"""The Problem interface: everything that is true of one PDE lives in one subclass.

A subclass declares its parameters (a dataclass ``Config``), the distribution of its inputs
(``sample_inputs``), its batched float64 torch solver (``solve``) and its residual, and registers
itself with ``@register``; nothing else in pdekit needs to change to add a problem.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping

import numpy as np
import torch

from pdekit.config import make_config, require
from pdekit.errors import ConfigError, PdekitError, UnstableError, how_to_set
from pdekit.numerics.etdrk4 import STABLE_COURANT, advective_courant

PROBLEMS: dict[str, type["Problem"]] = {}


def register(cls: type["Problem"]) -> type["Problem"]:
    """Class decorator: make a problem available by its ``name``."""
    PROBLEMS[cls.name] = cls
    return cls


def log_scaled(problem: str | None, names) -> tuple[bool, ...]:
    """For each parameter in ``names``: whether ``problem`` draws it per sample on a log scale, so
    models see its logarithm (``Problem.varying``); False for data of no registered problem."""
    scales = getattr(PROBLEMS.get(problem), "varying", {})
    return tuple(scales.get(name) == "log" for name in names)


class Problem:
    """A PDE with a batched solver on a grid: the base class of the problems that generate data.

    A subclass sets the class attributes (``name``, ``summary``, ``Config``, ``ndim``,
    ``time_dependent``, ``periodic``, ``fields``, ``inputs``, resolutions, ``input_modes``, ...) and
    implements ``sample_inputs``, ``solve`` and ``residual``. The solver runs on the solve grid
    (``config.solve_resolution``, where the config has one) and the data are stored on the
    ``resolution`` grid, the same or a coarser one whose points are solve-grid points.

    Parameters
    ----------
    resolution : int
        Points per dimension of the stored grid.
    config : dataclass instance or None
        The problem's ``Config`` (None: the defaults).

    Raises
    ------
    ConfigError
        For a resolution below ``min_resolution`` or one that does not divide the solve grid.
    """

    name: ClassVar[str]
    kind: ClassVar[str] = "grid"
    summary: ClassVar[str]
    Config: ClassVar[type]
    ndim: ClassVar[int]
    time_dependent: ClassVar[bool]
    periodic: ClassVar[bool] = True  # periodic grid x_j = j / n; else nodes x_j = j / (n - 1)
    fields: ClassVar[tuple[str, ...]] = ("u",)
    inputs: ClassVar[tuple[str, ...]] = ()  # inputs stored under /inputs (not a time slice)
    min_resolution: ClassVar[int] = 4
    default_resolution: ClassVar[int] = 64
    x_min: ClassVar[float] = 0.0  # left end of the domain [x_min, x_min + length) (length: config or 1)
    # maps of input samples to equally likely ones and of solutions to solutions, what train.augment
    # uses: "dihedral", "translation", "reflection", "galilean", "superposition" on static pairs
    # (data/symmetry.py), "translation" and "galilean" on rollout windows (data/lie.py)
    symmetries: ClassVar[tuple[str, ...]] = ()
    # quantities the PDE conserves ("mass": the spatial mean of the first field; others computed by
    # the subclass's conserved_quantities), whose drift rollout evaluations report
    conserved: ClassVar[tuple[str, ...]] = ()
    # modes per axis of the random inputs: fixed here, never taken from the grid, so a sample is one
    # function at every resolution (the solver ladder re-solves stored inputs on other grids)
    input_modes: ClassVar[int] = 0
    # parameters that may vary from sample to sample, and how they are drawn: "log" (log-uniform, for
    # a scale such as a viscosity; models are conditioned on its logarithm) or "uniform". A config
    # turns it on by setting <name>_max above <name>: each sample then draws its own value from
    # [<name>, <name>_max], stored under /params/<name>; advance() and solve() take it per sample.
    varying: ClassVar[dict[str, str]] = {}
    # False for a problem forced in time: advance() takes absolute times, and step() the state's time
    # state["t"] (returning t + dt with the fields) and the forcing's own inputs with the state
    autonomous: ClassVar[bool] = True
    # "cpu" where the solver runs on the CPU whatever device its inputs are on (NumPy, SciPy, finite
    # elements): speed comparisons then say so rather than naming the surrogate's device for both
    solver_device: ClassVar[str | None] = None

    def __init__(self, resolution: int, config: Any = None):
        self.config = config if config is not None else make_config(self.Config, owner=self.name)
        self.resolution = int(resolution)
        self._check_resolution()
        for name in self.varying:
            low, high = getattr(self.config, name), getattr(self.config, f"{name}_max")
            if high and not high > low:
                raise ConfigError(f"{self.name}: {name}_max = {high:g} must exceed {name} = {low:g} (the samples' "
                                  f"{name} is drawn from [{name}, {name}_max]), or be 0 for one {name} for all")
            if high and self.varying[name] == "log" and not low > 0:
                raise ConfigError(f"{self.name}: {name} is drawn log-uniformly from [{name}, {name}_max]: {name} "
                                  f"must be positive, got {low:g}")
        self.check()

    @classmethod
    def from_params(cls, resolution: int, params: Mapping[str, Any] | None = None) -> "Problem":
        """The problem at ``resolution`` with its parameters from ``params`` (defaults elsewhere).

        Parameters
        ----------
        resolution : int
            Points per dimension of the stored grid.
        params : mapping or None
            Parameter overrides by name; values may be strings (``--set key=value``).

        Returns
        -------
        Problem

        Raises
        ------
        ConfigError
            For an unknown parameter, a value of the wrong type or out of range, or an unsupported
            resolution.
        """
        return cls(resolution, make_config(cls.Config, params, owner=cls.name))

    # --- parameters drawn per sample ----------------------------------------------------------
    @property
    def sample_params(self) -> dict[str, tuple[float, float]]:
        """{name: (low, high)} of the parameters each sample draws under this config (see ``varying``)."""
        ranges = {name: (getattr(self.config, name), getattr(self.config, f"{name}_max")) for name in self.varying}
        return {name: bounds for name, bounds in ranges.items() if bounds[1]}

    def draw_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One sample's values of ``sample_params`` (float64 scalars); drawn after its inputs from
        the same generator, so the inputs of sample i are the same whether parameters vary or not."""
        out = {}
        for name, (low, high) in self.sample_params.items():
            u = rng.random()
            out[name] = np.float64(low * (high / low) ** u if self.varying[name] == "log" else low + (high - low) * u)
        return out

    def param(self, values: Mapping[str, torch.Tensor], name: str, like: torch.Tensor) -> "float | torch.Tensor":
        """Parameter ``name`` for a batch: the per-sample values in ``values`` (batch,), shaped to
        broadcast against ``like`` (batch, ...), where given; else the config's one value, which
        a config that draws ``name`` per sample does not have: then it must be given."""
        if name not in values:
            if name in self.sample_params:
                raise PdekitError(f"{self.name}: this config draws '{name}' per sample ({name}_max is set): pass the "
                                  f"samples' values with the fields, shaped (batch,) (step() does not return them)")
            return float(getattr(self.config, name))
        v = torch.as_tensor(values[name], dtype=torch.float64, device=like.device)
        if v.shape != like.shape[:1]:
            raise PdekitError(f"{self.name}: per-sample '{name}' must be shaped ({like.shape[0]},), got {tuple(v.shape)}")
        positive = float(getattr(self.config, name)) > 0  # a range above zero (a viscosity, a length) stays there
        if not torch.isfinite(v).all() or (positive and not (v > 0).all()):
            raise PdekitError(f"{self.name}: per-sample '{name}' must be finite{' and positive' if positive else ''}, "
                              f"got {v.tolist()}")
        return v.view(-1, *[1] * (like.ndim - 1))

    # --- grids -------------------------------------------------------------------------------
    @property
    def length(self) -> float:
        """Domain length per axis: the config's ``length`` where it has one, else 1."""
        return float(getattr(self.config, "length", 1.0))

    @property
    def solve_resolution(self) -> int:
        """Points per dimension of the grid the solver runs on (the config's, else the stored one)."""
        return getattr(self.config, "solve_resolution", 0) or self.resolution

    @property
    def stride(self) -> int:
        """Solve-grid points per stored-grid point along each axis."""
        if self.periodic:
            return self.solve_resolution // self.resolution
        return (self.solve_resolution - 1) // (self.resolution - 1)

    def _check_resolution(self) -> None:
        r, s = self.resolution, self.solve_resolution
        if r < self.min_resolution:
            raise ConfigError(
                f"unsupported resolution {r} for {self.name}: use at least {self.min_resolution}"
            )
        if self.periodic:
            ok, rule = s % r == 0 and s >= r, f"a divisor of solve_resolution = {s}"
        else:
            ok, rule = s >= r and (s - 1) % (r - 1) == 0, f"one of (solve_resolution - 1) / k + 1 for solve_resolution = {s}"
        if not ok:
            raise ConfigError(
                f"unsupported resolution {r} for {self.name}: the stored grid must be {rule}; "
                f"change {how_to_set('resolution')} or {how_to_set('solve_resolution', '<a fitting size>')}"
            )

    def coords(self) -> dict[str, np.ndarray]:
        """Coordinates of the stored grid: x (and y), and t for time-dependent problems."""
        n = self.resolution
        axis = np.arange(n) / n if self.periodic else np.linspace(0.0, 1.0, n)
        axis = self.x_min + axis * self.length
        out = {"x": axis}
        if self.ndim >= 2:
            out["y"] = axis.copy()
        if self.time_dependent:
            out["t"] = np.asarray(self.times())
        return out

    def times(self) -> list[float]:
        """The stored times t_i = t_final i / (nt - 1), i = 0 .. nt - 1 (time-dependent problems)."""
        c = self.config
        return [c.t_final * i / (c.nt - 1) for i in range(c.nt)]

    def restrict(self, x: torch.Tensor) -> torch.Tensor:
        """Solve grid to stored grid by injection (the stored points are solve-grid points)."""
        s = self.stride
        index = (slice(None),) * (x.ndim - self.ndim) + (slice(None, None, s),) * self.ndim
        return x[index]

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Points of the stored grid per axis: ``resolution`` along each (a problem on a longer
        domain may give more along its long axis)."""
        return (self.resolution,) * self.ndim

    def field_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample shapes of what is stored: /inputs/<name>, /fields/<name> and /params/<name>."""
        space = self.grid_shape
        time = (self.config.nt,) if self.time_dependent else ()
        shapes = {f"inputs/{k}": space for k in self.inputs}
        shapes.update({f"fields/{k}": time + space for k in self.fields})
        shapes.update({f"params/{k}": () for k in self.sample_params})
        return shapes

    @classmethod
    def channels(cls) -> tuple[int, int]:
        """(input, output) channels of the operator-learning task: a time slice of the fields to a
        later one, or the stored inputs to the fields (see pdekit.data.dataset)."""
        return (len(cls.fields) if cls.time_dependent else len(cls.inputs)), len(cls.fields)

    def pair_channels(self) -> tuple[int, int]:
        """``channels()`` under this config: each parameter drawn per sample adds an input channel."""
        c_in, c_out = self.channels()
        return c_in + len(self.sample_params), c_out

    # --- to implement ------------------------------------------------------------------------
    def check(self) -> None:
        """Cross-parameter checks that need the resolution (override where useful)."""

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One sample's inputs on the solve grid (float64), drawn from ``rng`` only."""
        raise NotImplementedError

    def solve(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Batched solve on the solve grid: inputs ``(batch, *space)`` -> fields ``(batch, nt, *space)``
        (or ``(batch, *space)`` for steady problems), float64, on the inputs' device. Parameters that
        vary per sample come with the inputs, each (batch,)."""
        raise NotImplementedError

    def advance(self, fields: dict[str, torch.Tensor], times: list[float]) -> dict[str, list[torch.Tensor]]:
        """Each field at ``times`` (times[0] is the fields' own time), integrated by the problem's own
        solver on the grid the fields are given on.

        Parameters
        ----------
        fields : every field of ``fields`` (the stored ones), each (batch, *space), on any grid the
            problem's solver accepts (the solve grid reproduces the data exactly); and each parameter
            that varies per sample, (batch,) (else the config's value holds for all).
        times : ascending times, the first the fields' own.

        Returns
        -------
        dict of lists: for each field its values at ``times``, each (batch, *space), float64.
        """
        raise PdekitError(f"{self.name} is steady: it has no time stepping")

    def conserved_quantities(self, fields: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The quantities ``conserved`` names, per sample, of fields (batch, *space) (float64):
        "mass" is the spatial mean of the first field; subclasses compute the others."""
        if "mass" in self.conserved:
            return {"mass": fields[self.fields[0]].double().mean(dim=tuple(range(-self.ndim, 0)))}
        return {}

    def step(self, state: dict[str, torch.Tensor], dt: float) -> dict[str, torch.Tensor]:
        """The state ``dt`` later: each field (batch, *space) advanced by the problem's own solver
        (``advance`` over [0, dt]), on the device and grid it is given on; per-sample parameters in
        ``state`` (batch,) are used and not returned. A problem forced in time (``autonomous``
        False) advances over [t, t + dt] from the state's time ``state["t"]`` (one for the batch)
        and returns "t": t + dt with the fields, so that ``{**state, **step(state, dt)}`` goes on."""
        missing = [name for name in self.fields if name not in state]
        if missing:
            raise PdekitError(f"{self.name}.step: the state must hold the fields {', '.join(self.fields)} "
                              f"(each (batch, *space)); missing {', '.join(missing)}")
        if not (math.isfinite(dt) and dt > 0):
            raise PdekitError(f"{self.name}.step: dt must be a positive finite time, got {dt}")
        if self.autonomous:
            return {name: values[-1] for name, values in self.advance(state, [0.0, float(dt)]).items()}
        t = state.get("t")
        if t is None or torch.as_tensor(t).numel() != 1 or not math.isfinite(float(t)):
            raise PdekitError(f"{self.name} is forced in time: step needs the state's time as state['t'], one "
                              f"finite number for the batch, got {t if t is None else tuple(torch.as_tensor(t).shape)}")
        t = float(t)
        return {**{name: values[-1] for name, values in self.advance(state, [t, t + float(dt)]).items()},
                "t": t + float(dt)}

    def residual(self, fields: dict[str, torch.Tensor], inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The PDE residual of grid fields on this problem's stored grid (zero for an exact solution)."""
        raise NotImplementedError

    def time_derivative(self, u: torch.Tensor) -> torch.Tensor:
        """d/dt of a stored trajectory (batch, nt, ...) for residuals: second-order differences at
        every stored time, one-sided at the first and last (the default one-sided first-order ends
        held 99% of an exact solution's residual); first order with only two stored times."""
        t = torch.as_tensor(self.times(), dtype=u.dtype, device=u.device)
        return torch.gradient(u, spacing=(t,), dim=1, edge_order=2 if len(t) >= 3 else 1)[0]

    def unresolved(self, inputs: dict[str, torch.Tensor], fields: dict[str, torch.Tensor]) -> str | None:
        """A sentence saying why the solve grid did not resolve these solutions (a bound the PDE
        keeps that they break), or None: generation warns with it; the solver ladder, which runs
        coarse settings on purpose, does not ask (override where the PDE gives such a check)."""
        return None

    def iterative_tolerance(self, device: str) -> str | None:
        """The config entry of the stopping tolerance of the iterative solver this problem uses on
        ``device`` (the solver ladder loosens it, as it lengthens a time step), or None where the
        solve is direct or exact (override where an iterative solver runs)."""
        return None


class PinnProblem:
    """A physics-informed benchmark: a domain, residual and conditions around a network, and a
    reference solution to score the trained PINN. Subclasses set ``name``, ``summary`` and
    ``Config`` and implement ``build``; they live in the module of the PDE they solve (burgers.py
    holds the Burgers solver and the Burgers PINN) and register with ``@register``."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Config: ClassVar[type]
    kind: ClassVar[str] = "pinn"

    def __init__(self, config: Any = None):
        self.config = config if config is not None else make_config(self.Config, owner=self.name)

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None) -> "PinnProblem":
        """The benchmark with its parameters from ``params`` (a pinn recipe's ``problem`` section
        without ``name``), validated; defaults elsewhere."""
        return cls(make_config(cls.Config, params, owner=f"PINN problem '{cls.name}'"))

    def build(self, network: dict):
        """A pdekit.pinn.Benchmark: the PINN (around the network the ``model`` section describes)
        and its reference solution."""
        raise NotImplementedError


def common_time_checks(config: Any) -> None:
    """Checks shared by time-dependent problems' configs."""
    require(config.t_final > 0, f"t_final must be positive, got {config.t_final}")
    require(config.nt >= 2, f"nt (stored time points, t = 0 included) must be at least 2, got {config.nt}")
    if hasattr(config, "dt"):
        require(config.dt > 0, f"dt must be positive, got {config.dt}")
    if hasattr(config, "nu"):
        require(config.nu > 0, f"nu must be positive, got {config.nu}; set {how_to_set('nu', '<positive value>')}")


def require_even_grid(n: int, minimum: int) -> None:
    """Spectral solvers need an even solve_resolution (a real Nyquist mode) of a useful size."""
    require(n >= minimum and n % 2 == 0, f"solve_resolution must be an even number >= {minimum}, got {n}")


def check_courant(problem: str, dt: float, u_max: float, nu: float, n: int, when: str) -> None:
    """Raise UnstableError when dt exceeds the ETDRK4 advective limit (see numerics.etdrk4)."""
    if not math.isfinite(u_max):
        raise UnstableError(f"{problem} produced non-finite values {when}: reduce dt = {dt:g}")
    courant = advective_courant(dt, u_max, nu, n)
    if courant > STABLE_COURANT:
        safe = dt * STABLE_COURANT / courant / 1.25
        raise UnstableError(
            f"time step dt = {dt:g} is unstable for {problem} {when} (max velocity {u_max:.3g}, "
            f"nu = {nu:g}, solve_resolution = {n}, Courant number {courant:.3g} > {STABLE_COURANT}); "
            f"set {how_to_set('dt', f'{safe:.2g}')} or smaller"
        )
