"""A physics-informed model: domain, residual, network, conditions and trainable coefficients.

Conditions are soft (a weighted mean-squared term of the loss) or hard (built into the output):
hard Dirichlet u = g + phi N with phi the geometry's boundary factor, hard initial u = h + (t - t0) N,
both u = h + g - g(t0) + (t - t0) phi N (h must equal g on the boundary at t0), hard periodic an
input embedding (cos, sin) of the periodic coordinate, hard Neumann and Robin conditions
u = N + phi (c N - grad phi . grad N - h) with phi the geometry's normalized distance (on the whole
boundary), and any other affine transform u = shift + scale N through a Transform (a stream
function's no-slip walls).
"""

from __future__ import annotations

import inspect
import math
import traceback
import warnings
from typing import Callable

import numpy as np
import torch
from torch import nn

from pdekit.errors import ConfigError
from pdekit.pinn import taylor
from pdekit.pinn.geometry import Box, Geometry, Interval, SpaceTime, collect
from pdekit.pinn.operators import grad

Value = float | Callable[[torch.Tensor], torch.Tensor]


def _value(value: Value, x: torch.Tensor) -> torch.Tensor:
    if callable(value):
        out = value(x)
        return out if out.ndim == 2 else out[:, None]
    return torch.full((len(x), 1), float(value), dtype=x.dtype, device=x.device)


class Condition:
    """``on``: a predicate on (n, d) NumPy points selecting part of the boundary (default: all);
    ``points``: explicit points instead (checked to lie where the condition applies).

    The base class of the PINN conditions. A soft condition adds the mean square of its violation at
    its points, times ``weight``, to the loss; a hard one (where the subclass supports it) is built
    into the PINN's output and has no points.

    Parameters
    ----------
    value : float or callable
        The prescribed value: a constant, or a function of the points (n, d) tensor returning (n,) or
        (n, k).
    on : callable or None
        A predicate on (n, d) NumPy points that selects part of the boundary (None: all of it).
    points : array-like or None
        Explicit points (n, d) instead of sampled ones.
    hard : bool
        Impose the condition exactly through the output (Dirichlet, Neumann, Robin, Initial, Periodic).
    weight : float
        Weight of the condition's loss term (>= 0).
    """

    kind = "boundary"
    hard_supported = False
    flux = False  # a condition on du/dn (Neumann, Robin)
    on_values = False  # the violation depends on u at the points only (see value_residual)

    def __init__(self, value: Value = 0.0, on: Callable | None = None, points=None, hard: bool = False,
                 weight: float = 1.0):
        if hard and not self.hard_supported:
            raise ConfigError(f"{type(self).__name__} conditions are soft only (a loss term); use hard=False")
        if not weight >= 0:  # (nan too)
            raise ConfigError(f"a condition's weight must be >= 0, got {weight}")
        if hard and (on is not None or points is not None):  # built into the output: it holds everywhere
            where = "at t0" if self.kind == "initial" else "on the whole boundary"
            raise ConfigError(f"a hard {type(self).__name__} condition holds {where}: drop `on` and `points`, or "
                              "make it soft (hard=False) for part of it")
        if on is not None and self.kind == "initial":
            raise ConfigError("Initial: `on` selects boundary points, and the initial condition holds on the whole "
                              "domain at t0; give `points` (with t = t0) for a part of it")
        self.value, self.on, self.hard, self.weight = value, on, hard, float(weight)
        self.points = None if points is None else np.asarray(points, dtype=np.float64)

    def sample(self, domain, n: int, rng: np.random.Generator) -> np.ndarray:
        """The condition's points: the given ``points`` (checked), else n boundary points of ``domain``
        where ``on`` holds (rejection sampling).

        Parameters
        ----------
        domain : Geometry or SpaceTime
            The PINN's domain.
        n : int
            Number of points to draw (ignored when the points are given).
        rng : numpy.random.Generator
            The generator to draw from.

        Returns
        -------
        numpy.ndarray
            Points shaped (n, d), float64.
        """
        if self.points is not None:
            self._check_points(domain, self.points)
            return self.points
        def draw(missing):
            x = domain.sample_boundary(4 * n, rng)
            return x if self.on is None else x[np.asarray(self.on(x), dtype=bool)]

        return collect(n, draw, f"{type(self).__name__}: its `on` selects (almost) no boundary point", tries=50)

    def _check_points(self, domain, x):
        space = domain.space if isinstance(domain, SpaceTime) else domain
        if x.ndim != 2 or x.shape[1] != domain.dim:
            raise ConfigError(f"{type(self).__name__}: points must be shaped (n, {domain.dim}), got {x.shape}")
        if self.kind == "boundary":
            bad = ~space.on_boundary(x[:, : space.dim])
            if isinstance(domain, SpaceTime):  # and within the time interval
                bad |= (x[:, -1] < domain.time.t0) | (x[:, -1] > domain.time.t1)
        else:
            bad = ~domain.contains(x)
        if bad.any():
            where = "on the boundary of" if self.kind == "boundary" else "inside"
            raise ConfigError(f"{type(self).__name__}: {int(bad.sum())} of {len(x)} points are not {where} "
                              f"{space!r}, for example {x[np.argmax(bad)].tolist()}")

    def residual(self, pinn: "PINN", x: torch.Tensor) -> torch.Tensor:
        """The violation of the condition at the points x, evaluating ``pinn`` there.

        Parameters
        ----------
        pinn : PINN
            The model (its ``domain`` gives normals and the periodic ends).
        x : torch.Tensor
            The condition's points, (n, d).

        Returns
        -------
        torch.Tensor
            The violation, (n, k): zero where the condition holds.
        """
        raise NotImplementedError


    def value_residual(self, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The violation from the model's values at the points alone (conditions with ``on_values``),
        so that their points can share the PDE residual's forward pass.

        Parameters
        ----------
        u : torch.Tensor
            The model's values at the points, (n, k).
        x : torch.Tensor
            The points, (n, d).

        Returns
        -------
        torch.Tensor
            The violation, (n, k).
        """
        raise NotImplementedError


class Dirichlet(Condition):
    """u = value on the boundary (or the part ``on`` selects).

    Hard: u = g + phi N, with g the value, phi the geometry's boundary factor and N the network's
    output, so the whole boundary holds the value exactly (``on`` and ``points`` then play no part).

    Parameters
    ----------
    value : float or callable
        The boundary value g: a constant, or a function of the points (n, d) tensor.
    on : callable or None
        A predicate on (n, d) NumPy points that selects part of the boundary (None: all of it).
    points : array-like or None
        Explicit points (n, d) instead of sampled ones, checked to lie on the boundary.
    hard : bool
        Impose the condition exactly through the output.
    weight : float
        Weight of the condition's loss term (>= 0).
    """

    hard_supported = True
    on_values = True

    def value_residual(self, u, x):
        """u - value at the points.

        Parameters
        ----------
        u : torch.Tensor
            The model's values at the points, (n, k).
        x : torch.Tensor
            The points, (n, d).

        Returns
        -------
        torch.Tensor
            The violation, (n, k).
        """
        return u - _value(self.value, x)

    def residual(self, pinn, x):
        """u - value at the points, evaluating ``pinn`` there.

        Parameters
        ----------
        pinn : PINN
            The model (its ``domain`` gives normals and the periodic ends).
        x : torch.Tensor
            The condition's points, (n, d).

        Returns
        -------
        torch.Tensor
            The violation, (n, k): zero where the condition holds.
        """
        return self.value_residual(pinn(x), x)


class Neumann(Condition):
    """du/dn = value on the boundary (outward normal).

    Hard (on the whole boundary): u = N - phi (grad phi . grad N + value), with phi the geometry's
    ``distance_field`` (grad phi = -n on the boundary), so du/dn = value there for any network
    output N (Sukumar and Srivastava 2022); the PINN differentiates N inside its output, so a
    second-order residual takes third derivatives of the network.

    Parameters
    ----------
    value : float or callable
        The prescribed normal derivative: a constant, or a function of the points (n, d) tensor.
    on : callable or None
        A predicate on (n, d) NumPy points that selects part of the boundary (None: all of it;
        a hard condition holds on all of it).
    points : array-like or None
        Explicit points (n, d) instead of sampled ones, checked to lie on the boundary (soft only).
    hard : bool
        Impose the condition exactly through the output.
    weight : float
        Weight of the condition's loss term (>= 0).
    """

    hard_supported = True
    flux = True  # a hard condition on the normal derivative: (a / b, value / b) of a u + b du/dn = value
    robin = (0.0, 1.0)

    def residual(self, pinn, x):
        """du/dn - value at the points (the geometry's outward normal, derivatives by reverse mode).

        Parameters
        ----------
        pinn : PINN
            The model (its ``domain`` gives normals and the periodic ends).
        x : torch.Tensor
            The condition's points, (n, d).

        Returns
        -------
        torch.Tensor
            The violation, (n, k): zero where the condition holds.
        """
        x = x.requires_grad_(True)
        return _normal_derivative(pinn, x) - _value(self.value, x)


class Robin(Condition):
    """a u + b du/dn = value on the boundary (outward normal).

    Hard (on the whole boundary, b != 0): with c = a / b and h = value / b,
    u = N + phi (c N - grad phi . grad N - h), phi the geometry's ``distance_field``, so that
    du/dn + c u = h there for any network output N (Sukumar and Srivastava 2022).

    Parameters
    ----------
    a, b : float
        The coefficients of u and of du/dn.
    value : float or callable
        The right-hand side: a constant, or a function of the points (n, d) tensor.
    **kw
        ``on``, ``points``, ``hard`` and ``weight``, as for every condition.

    Raises
    ------
    ConfigError
        For a hard condition with b = 0 (that is a Dirichlet condition).
    """

    hard_supported = True
    flux = True

    def __init__(self, a: float, b: float, value: Value = 0.0, **kw):
        super().__init__(value, **kw)
        self.a, self.b = float(a), float(b)
        if self.hard and self.b == 0:
            raise ConfigError("a hard Robin condition needs b != 0 (with b = 0 it is a Dirichlet condition)")
        self.robin = (self.a, self.b)

    def residual(self, pinn, x):
        """a u + b du/dn - value at the points.

        Parameters
        ----------
        pinn : PINN
            The model (its ``domain`` gives normals and the periodic ends).
        x : torch.Tensor
            The condition's points, (n, d).

        Returns
        -------
        torch.Tensor
            The violation, (n, k): zero where the condition holds.
        """
        x = x.requires_grad_(True)
        u = pinn(x)
        return self.a * u + self.b * _normal_derivative(pinn, x, u) - _value(self.value, x)


def _normal_derivative(pinn, x, u=None):
    """du/dn at the boundary points x, (n, k): one column per output (grad of a vector u would sum them)."""
    n = torch.as_tensor(pinn.domain.normal(x.detach().cpu().numpy()), dtype=x.dtype, device=x.device)
    u = pinn(x) if u is None else u
    columns = [u] if u.shape[1] == 1 else [u[:, j : j + 1] for j in range(u.shape[1])]
    return torch.cat([(grad(c, x)[:, : n.shape[1]] * n).sum(1, keepdim=True) for c in columns], dim=1)


class Periodic(Condition):
    """u (and du/dx_axis) equal at the two ends of spatial ``axis`` (the domain must be an interval
    or box along it). Hard: the network sees (cos, sin) of that coordinate.

    Parameters
    ----------
    axis : int
        The periodic spatial axis (a column of the points).
    hard : bool
        Make u periodic by construction (an input embedding) instead of a loss term.
    weight : float
        Weight of the loss term (soft).
    """

    hard_supported = True

    def __init__(self, axis: int = 0, hard: bool = False, weight: float = 1.0):
        super().__init__(0.0, hard=hard, weight=weight)
        self.axis = axis

    def sample(self, domain, n, rng):
        """n points on the lower end of ``axis``: interior points (uniform) moved to that end.

        Parameters
        ----------
        domain : Geometry or SpaceTime
            The PINN's domain.
        n : int
            Number of points to draw.
        rng : numpy.random.Generator
            The generator to draw from.

        Returns
        -------
        numpy.ndarray
            Points shaped (n, d), float64.
        """
        x = domain.sample_interior(n, "uniform", rng)
        space = domain.space if isinstance(domain, SpaceTime) else domain
        x[:, self.axis] = space.lo[self.axis]
        return x

    def residual(self, pinn, x):
        """(u(lo) - u(hi), du/dx_axis(lo) - du/dx_axis(hi)) for the points x on the lower end and
        their images on the upper end.

        Parameters
        ----------
        pinn : PINN
            The model (its ``domain`` gives normals and the periodic ends).
        x : torch.Tensor
            The condition's points, (n, d).

        Returns
        -------
        torch.Tensor
            The violation, (n, k + 1): zero where the condition holds (for k > 1 outputs the
            derivative column is that of their sum).
        """
        space = pinn.domain.space if isinstance(pinn.domain, SpaceTime) else pinn.domain
        other = x.detach().clone()
        other[:, self.axis] = float(space.hi[self.axis])
        a, b = x.requires_grad_(True), other.requires_grad_(True)
        ua, ub = pinn(a), pinn(b)
        da, db = grad(ua, a)[:, self.axis : self.axis + 1], grad(ub, b)[:, self.axis : self.axis + 1]
        return torch.cat([ua - ub, da - db], dim=1)


class Initial(Condition):
    """u(x, t0) = value(x), or with ``derivative=1`` u_t(x, t0) = value(x) (second order in time).

    Needs a space-time domain. Hard (``derivative`` 0 only): u = h + (t - t0) N, with h the value
    and N the network's output (with a hard Dirichlet condition too, see the module docstring).

    Parameters
    ----------
    value : float or callable
        The initial value h (or u_t): a constant, or a function of the points (n, d) tensor, time
        last.
    derivative : int
        0: prescribe u, 1: prescribe u_t.
    **kw
        ``points`` (which must have t = t0), ``hard`` and ``weight``, as for every condition.
    """

    kind = "initial"
    hard_supported = True

    def __init__(self, value: Value = 0.0, derivative: int = 0, **kw):
        super().__init__(value, **kw)
        if derivative not in (0, 1) or (derivative and self.hard):
            raise ConfigError("Initial: derivative must be 0 or 1, and a hard initial condition has derivative 0")
        self.derivative = derivative
        self.on_values = derivative == 0

    def value_residual(self, u, x):
        """u - value at the points (derivative 0).

        Parameters
        ----------
        u : torch.Tensor
            The model's values at the points, (n, k).
        x : torch.Tensor
            The points, (n, d).

        Returns
        -------
        torch.Tensor
            The violation, (n, k).
        """
        return u - _value(self.value, x)

    def sample(self, domain, n, rng):
        """The given ``points`` (checked to have t = t0), else n points of the spatial domain at t0
        (scrambled Sobol).

        Parameters
        ----------
        domain : Geometry or SpaceTime
            The PINN's domain.
        n : int
            Number of points to draw (ignored when the points are given).
        rng : numpy.random.Generator
            The generator to draw from.

        Returns
        -------
        numpy.ndarray
            Points shaped (n, d), float64.
        """
        if not isinstance(domain, SpaceTime):
            raise ConfigError("an Initial condition needs a space-time domain: geometry * TimeInterval(t0, t1)")
        if self.points is not None:
            self._check_points(domain, self.points)
            if np.abs(self.points[:, -1] - domain.time.t0).max() > 1e-12:
                raise ConfigError(f"Initial: points must have t = t0 = {domain.time.t0:g}")
            return self.points
        return domain.sample_initial(n, "sobol", rng)

    def residual(self, pinn, x):
        """u - value, or u_t - value with ``derivative=1``, at the points.

        Parameters
        ----------
        pinn : PINN
            The model (its ``domain`` gives normals and the periodic ends).
        x : torch.Tensor
            The condition's points, (n, d).

        Returns
        -------
        torch.Tensor
            The violation, (n, k): zero where the condition holds.
        """
        if self.derivative:
            x = x.requires_grad_(True)
            return grad(pinn(x), x)[:, -1:] - _value(self.value, x)
        return self.value_residual(pinn(x), x)


class Observation(Condition):
    """Data: u(points) = values (n, k), for inverse problems and data-assisted training.

    Parameters
    ----------
    points : array-like
        The observed points, (n, d), inside the domain.
    values : array-like
        The observed values, (n, k) or (n,): of every network output (k of them), or of those
        ``outputs`` names.
    weight : float
        Weight of the data misfit in the loss.
    outputs : sequence of int or None
        The network outputs observed, one per column of ``values`` (None: all of them).

    Raises
    ------
    ConfigError
        For values not shaped (n,) or (n, k), not finite, or not one column per observed output
        (checked when the network's outputs are known).
    """

    kind = "interior"

    def __init__(self, points, values, weight: float = 1.0, outputs=None):
        super().__init__(0.0, points=points, weight=weight)
        values = np.asarray(values, dtype=np.float64)
        n = len(self.points)
        if values.ndim not in (1, 2) or len(values) != n:
            raise ConfigError(f"Observation: values must be shaped ({n},) or ({n}, k) for the {n} points, got "
                              f"{values.shape}")
        if not np.isfinite(values).all():
            raise ConfigError(f"Observation: {int((~np.isfinite(values)).sum())} observed value(s) are NaN or inf: "
                              f"leave those points out")
        self.values = torch.as_tensor(values.reshape(n, -1))
        self.outputs = None if outputs is None else [int(i) for i in outputs]
        if self.outputs is not None and len(self.outputs) != self.values.shape[1]:
            raise ConfigError(f"Observation: outputs names {len(self.outputs)} output(s), the values have "
                              f"{self.values.shape[1]} column(s)")

    def sample(self, domain, n, rng):
        """The observed points (checked to lie in the domain).

        Parameters
        ----------
        domain : Geometry or SpaceTime
            The PINN's domain.
        n : int
            Ignored: every observed point is returned.
        rng : numpy.random.Generator
            The generator to draw from.

        Returns
        -------
        numpy.ndarray
            Points shaped (n, d), float64.
        """
        self._check_points(domain, self.points)
        return self.points

    on_values = True

    def value_residual(self, u, x):
        """u - the observed values.

        Parameters
        ----------
        u : torch.Tensor
            The model's values at the points, (n, k).
        x : torch.Tensor
            The points, (n, d).

        Returns
        -------
        torch.Tensor
            The violation, (n, k).
        """
        if self.outputs is not None:
            if max(self.outputs) >= u.shape[1] or min(self.outputs) < 0:
                raise ConfigError(f"Observation: outputs {self.outputs} name outputs the network's {u.shape[1]} lack")
            u = u[:, self.outputs]
        elif u.shape[1] != self.values.shape[1]:
            raise ConfigError(f"Observation: the values have {self.values.shape[1]} column(s), the network "
                              f"{u.shape[1]} outputs: give one column per output, or name the observed ones "
                              f"(outputs=[...])")
        return u - self.values.to(dtype=x.dtype, device=x.device)

    def residual(self, pinn, x):
        """u - the observed values, evaluating ``pinn`` at the points.

        Parameters
        ----------
        pinn : PINN
            The model (its ``domain`` gives normals and the periodic ends).
        x : torch.Tensor
            The condition's points, (n, d).

        Returns
        -------
        torch.Tensor
            The violation, (n, k): zero where the condition holds.
        """
        return self.value_residual(pinn(x), x)


class Transform(Condition):
    """A hard output transform u = shift(x) + scale(x) N(x), N the network's output: for what the
    other hard forms do not cover. A scale vanishing to second order on a wall imposes a zero
    normal derivative there (hard Neumann), a scale of 1 on some columns leaves them free (a
    pressure next to a stream function), and the shift carries the boundary data: a stream
    function psi = psi_0 + (x (1 - x) y (1 - y))^2 N has no-slip walls wherever psi_0 has.

    Parameters
    ----------
    shift, scale : float or callable
        Functions of the points (n, d) tensor returning (n, k) or (n, 1) (one column for every
        output), differentiable by torch (the Taylor pass differentiates them once per set of
        points), or constants.
    """

    kind = "transform"
    hard_supported = True

    def __init__(self, shift: Value = 0.0, scale: Value = 1.0):
        super().__init__(0.0, hard=True)
        self.shift, self.scale = shift, scale


def _reverse_mode_on_taylor_points(err: RuntimeError) -> bool:
    """Whether ``err`` is autograd refusing to differentiate with respect to the Taylor pass's points
    (they do not require grad): what reverse mode asked of a carried derivative (a slice of a carried
    gradient, say) raises. Any other RuntimeError is the residual's own."""
    from_autograd = any(frame.f_globals.get("__name__", "").startswith("torch.autograd")
                        for frame, _ in traceback.walk_tb(err.__traceback__))
    return from_autograd and "does not require grad" in str(err)


class PINN(nn.Module):
    """u(x) = transform(network(embedding(x))); ``residual(u, x)`` or ``residual(u, x, coeffs)``
    returns the PDE residual at the points x (n, d), shaped (n,) or (n, k).

    The embedding is the identity, or (cos, sin) of a hard periodic axis; the transform imposes hard
    Dirichlet and initial conditions (see the module docstring). Where the network lists its layers
    (``taylor_layers``), the residual's derivatives (mixed and up to the third order, of any
    output column) come from a Taylor pass (pinn/taylor.py), else from reverse mode.

    Parameters
    ----------
    domain : Geometry or SpaceTime
        Where the PDE holds; points are (n, d) with d = ``domain.dim``, time last.
    residual : callable
        ``residual(u, x)`` or ``residual(u, x, coeffs)``, built from pdekit.pinn.operators, where
        ``coeffs`` maps each name of ``coefficients`` to its trainable scalar tensor.
    network : torch.nn.Module
        A pointwise network, (n, input_dim()) to (n, k).
    conditions : list of Condition
        Boundary, initial, periodic and data conditions; at most one hard condition of each kind.
    coefficients : dict of str to float or None
        Trainable PDE coefficients and their initial values (inverse problems).

    Raises
    ------
    ConfigError
        For two hard conditions of one kind, something that is not a Condition, or a hard initial
        condition without a space-time domain.
    """

    def __init__(self, domain: Geometry | SpaceTime, residual: Callable, network: nn.Module,
                 conditions: list[Condition] = (), coefficients: dict[str, float] | None = None):
        super().__init__()
        self.domain, self.residual_fn, self.net = domain, residual, network
        self.conditions = list(conditions)
        self.coefficients = nn.ParameterDict({k: nn.Parameter(torch.tensor(float(v))) for k, v in
                                              (coefficients or {}).items()})
        given = list(inspect.signature(residual).parameters.values())
        # a third parameter without a default (or *args) takes the coefficients; one with a default is the user's own
        self._takes_coeffs = len(given) >= 3 and (given[2].default is inspect.Parameter.empty
                                                   or given[2].kind is inspect.Parameter.VAR_POSITIONAL)
        if self.coefficients and not self._takes_coeffs:
            raise ConfigError(f"coefficients {', '.join(self.coefficients)} are given, but the residual takes no "
                              f"third argument for them (residual(u, x, coeffs)): they would never be trained")
        for c in self.conditions:
            if not isinstance(c, Condition):
                what = f"the class {c.__name__} (call it: {c.__name__}(...))" if isinstance(c, type) else type(c).__name__
                raise ConfigError(f"conditions must be pdekit.pinn conditions, got {what}")
            if isinstance(c, Periodic) and not (isinstance(self.space, (Interval, Box))
                                                and isinstance(c.axis, int) and 0 <= c.axis < self.space.dim):
                raise ConfigError(f"Periodic(axis={c.axis!r}) needs an Interval or Box domain and a spatial axis "
                                  f"0 .. {self.space.dim - 1}; the domain is {self.space!r}")
        kinds = [type(c) for c in self.conditions if c.hard]
        if any(kinds.count(k) > 1 for k in kinds):
            raise ConfigError("at most one hard condition of each kind (Dirichlet, Initial, Periodic)")
        self.hard = {type(c).__name__: c for c in self.conditions if c.hard}
        if "Transform" in self.hard and self.hard.keys() & {"Dirichlet", "Initial"}:
            raise ConfigError("a Transform replaces hard Dirichlet and Initial conditions: fold them into its shift "
                              "and scale")
        if "Periodic" in self.hard and "Dirichlet" in self.hard:  # its factor vanishes on every face
            raise ConfigError("a hard Dirichlet condition holds on the whole boundary, the periodic faces included "
                              "(u would be pinned there): make the Dirichlet condition soft, on the other faces' "
                              "points (points=...)")
        if "Initial" in self.hard and not isinstance(domain, SpaceTime):
            raise ConfigError("a hard Initial condition needs a space-time domain")
        self.flux = next((c for c in self.hard.values() if c.flux), None)  # a hard Neumann or Robin condition
        if self.flux is not None and len(self.hard) > 1:
            raise ConfigError(f"a hard {type(self.flux).__name__} condition holds on the whole boundary and takes no "
                              f"other hard condition (here also {', '.join(k for k in self.hard if k != type(self.flux).__name__)}); "
                              "make the others soft")
        # the Taylor pass needs a network that lists its layers
        p = next(network.parameters())
        with torch.no_grad():
            try:
                self.out_dim = network(torch.zeros(1, self.input_dim(), dtype=p.dtype, device=p.device)).shape[1]
            except RuntimeError as exc:
                raise ConfigError(f"the network must take {self.input_dim()} input columns (the domain's {self.domain.dim}"
                                  + (" with the hard periodic axis as cos and sin" if "Periodic" in self.hard else "")
                                  + f"): {str(exc).splitlines()[0]}") from None
        self.taylor = hasattr(network, "taylor_layers")
        self._taylor_keys: set[tuple[int, ...]] = set()
        self._taylor_settled = False  # the keys above served the last residual
        self._fixed_cache = None

    @property
    def space(self) -> Geometry:
        return self.domain.space if isinstance(self.domain, SpaceTime) else self.domain

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The network's input: the points themselves, or with a hard periodic axis a that column
        replaced by (cos, sin) of 2 pi (x_a - lo) / (hi - lo).

        Parameters
        ----------
        x : torch.Tensor
            Points (n, d).

        Returns
        -------
        torch.Tensor
            (n, d), or (n, d + 1) with a hard periodic axis.
        """
        periodic = self.hard.get("Periodic")
        if periodic is None:
            return x
        a, lo, hi = periodic.axis, float(self.space.lo[periodic.axis]), float(self.space.hi[periodic.axis])
        angle = 2 * math.pi * (x[:, a : a + 1] - lo) / (hi - lo)
        return torch.cat([x[:, :a], torch.cos(angle), torch.sin(angle), x[:, a + 1 :]], dim=1)

    def input_dim(self) -> int:
        """Columns the network receives (one more than the domain's with a hard periodic axis)."""
        return self.domain.dim + (1 if "Periodic" in self.hard else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """u at the points x (n, d), hard conditions included: (n, k)."""
        if self.flux is None:
            return self._output(x, self.net(self.embed(x)))
        with torch.enable_grad():  # a hard Neumann or Robin condition differentiates the network's output
            xg = x if x.requires_grad else x.detach().requires_grad_(True)
            n = self.net(self.embed(xg))
            columns = [torch.autograd.grad(n[:, j].sum(), xg, create_graph=True)[0] for j in range(n.shape[1])]
            dn = [torch.stack([g[:, axis] for g in columns], dim=1) for axis in range(self.space.dim)]
            u = self._output(xg, n, dn)
        return u if torch.is_grad_enabled() else u.detach()

    def _output(self, x: torch.Tensor, n: torch.Tensor, dn: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The hard conditions' output transform, affine in the network output n and, with a hard
        Neumann or Robin condition, its spatial derivatives dn (one (n, k) tensor per axis):
        A(x) + B(x) n + sum_j C_j(x) dn_j (a Transform's own, or that of the hard conditions)."""
        if self.flux is not None:  # u = n + phi (c n - grad phi . grad n - h), see Robin
            phi = self.space.distance_field(x[:, : self.space.dim])
            (grad_phi,) = torch.autograd.grad(phi.sum(), x, create_graph=True)
            a, b = self.flux.robin
            along = sum(grad_phi[:, j : j + 1] * dn[j] for j in range(self.space.dim))
            return n + phi * ((a / b) * n - along - _value(self.flux.value, x) / b)
        transform = self.hard.get("Transform")
        if transform is not None:
            return _value(transform.shift, x) + _value(transform.scale, x) * n
        dirichlet, initial = self.hard.get("Dirichlet"), self.hard.get("Initial")
        if dirichlet is None and initial is None:
            return n
        xs = x[:, : self.space.dim]
        if initial is None:
            return _value(dirichlet.value, x) + self.space.factor(xs) * n
        t0 = self.domain.time.t0
        x0 = torch.cat([xs, torch.full_like(x[:, -1:], t0)], dim=1)
        if dirichlet is None:
            return _value(initial.value, x0) + (x[:, -1:] - t0) * n
        return _value(initial.value, x0) + _value(dirichlet.value, x) - _value(dirichlet.value, x0) \
            + (x[:, -1:] - t0) * self.space.factor(xs) * n

    def evaluate(self, x: torch.Tensor, compiled: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(u, residual) at the points x (n, d) from one pass: a Taylor pass (pinn/taylor.py) where
        the network and the residual allow it, reverse mode otherwise. ``compiled``: run the Taylor
        pass through torch.compile once the derivatives it needs are known.

        When the residual takes a derivative the Taylor pass cannot carry, the PINN warns once and
        uses reverse mode from then on.

        Parameters
        ----------
        x : torch.Tensor
            Points (n, d), in the network's precision.
        compiled : bool
            Compile the Taylor pass.

        Returns
        -------
        u : torch.Tensor
            The values, (n, k).
        residual : torch.Tensor
            The PDE residual, (n, m) ((n,) residuals become (n, 1)).

        Raises
        ------
        ConfigError
            If the residual does not return one row per point.
        """
        fell_back = False
        if self.taylor:
            result = self._evaluate_taylor(x, compiled)
            if result is not None:
                return result
            self.taylor, fell_back = False, True
        xr = x.detach().requires_grad_(True)
        u = self(xr)
        r = self._residual(u, xr)
        if fell_back:
            warnings.warn("the residual takes derivatives that the Taylor pass does not carry (it carries "
                          "partial, derivative, grad, laplacian, divergence and time_derivative of the output "
                          "or of its columns, up to the third order, the second with a hard Neumann or Robin "
                          "condition); using reverse mode", stacklevel=2)
        return u, r

    def _evaluate_taylor(self, x, compiled):
        """(u, residual) by the Taylor pass, learning on the first calls which derivatives the residual
        takes; None where it takes one the pass cannot carry."""
        xt = x.detach()
        max_order = taylor.MAX_ORDER - (self.flux is not None)  # the flux transform differentiates once more
        for _ in range(4 * x.shape[1] ** taylor.MAX_ORDER + 2):
            u = self._taylor_output(x, xt, compiled and self._taylor_settled)
            try:
                r = self._residual(u, xt)
            except taylor.Missing as miss:
                if any(len(k) > max_order for k in miss.keys) or miss.keys <= self._taylor_keys:
                    return None
                self._taylor_keys |= set(taylor.closure(miss.keys))
                self._taylor_settled = False
                continue
            except RuntimeError as err:
                if not _reverse_mode_on_taylor_points(err):
                    raise  # the residual's own error, for the user to see
                return None
            self._taylor_settled = True
            return u, r
        return None

    def pde_residual(self, x: torch.Tensor) -> torch.Tensor:
        """The PDE residual alone at the points x (n, d): (n, m), as ``evaluate`` gives it."""
        return self.evaluate(x)[1]

    def _residual(self, u, x):
        coeffs = {k: v for k, v in self.coefficients.items()}
        r = self.residual_fn(u, x, coeffs) if self._takes_coeffs else self.residual_fn(u, x)
        if not isinstance(r, torch.Tensor) or r.shape[0] != len(x) or r.ndim not in (1, 2):
            shape = tuple(r.shape) if isinstance(r, torch.Tensor) else type(r).__name__
            raise ConfigError(f"the residual returned {shape} for {len(x)} points; it must return a tensor shaped "
                              f"({len(x)},) or ({len(x)}, k) (one row per point)")
        return r if r.ndim == 2 else r[:, None]

    # --- Taylor pass -----------------------------------------------------------------------------
    def _taylor_output(self, x: torch.Tensor, xt: torch.Tensor, compiled: bool) -> torch.Tensor:
        """u at x with its carried derivatives, attached for the points xt (x detached)."""
        keys = taylor.closure(self._taylor_keys)
        net_keys = self._network_keys(keys)
        fixed = self._fixed_series(x, keys)
        e, e_k = fixed["embed"]
        run = taylor.propagate_compiled if compiled else taylor.propagate
        plan = tuple(taylor.partitions(k) for k in net_keys)
        n, n_k = run(self.net.taylor_layers(), e, [e_k[k] for k in net_keys], net_keys, plan)
        carried = dict(zip(net_keys, n_k))
        if "a" in fixed:  # u = A + B n + sum_j C_j n_j: the product rule over the positions of each key
            n_k = {(): n, **carried}
            u, carried = fixed["a"][0], dict(fixed["a"][1])
            for axis, (c, c_k) in [(None, fixed["b"])] + list(enumerate(fixed.get("c", []))):
                c_k = {(): c, **c_k}
                along = () if axis is None else (axis,)
                u = u + c * n_k[along]
                for k in keys:
                    carried[k] = carried[k] + sum(c_k[kc] * n_k[taylor.key(*kn, *along)]
                                                  for kc, kn in taylor.leibniz(k))
        else:
            u = n if n._base is None else n.clone()  # a fresh tensor, so that column slices find it
        return taylor.attach(u, xt, carried)

    def _network_keys(self, keys: tuple) -> tuple:
        """The network's derivatives that u's ``keys`` need: the same, and with a hard Neumann or
        Robin condition each of them (and the value) once more along every spatial axis."""
        if self.flux is None:
            return keys
        return taylor.closure(set(keys) | {taylor.key(*k, j) for k in ((),) + keys for j in range(self.space.dim)})

    def _fixed_series(self, x: torch.Tensor, keys: tuple) -> dict:
        """Value and derivatives of the parameter-free parts: the input embedding (along the
        network's keys) and the output transform's A, B and C_j (along ``keys``). Kept while the
        points stay the same."""
        points, cache_key = x, (x._version, x.dtype, keys)
        if self._fixed_cache is not None and self._fixed_cache[0] is points and self._fixed_cache[1] == cache_key:
            return self._fixed_cache[2]
        x = x.detach()
        fixed = {"embed": taylor.series(self.embed, x, self._network_keys(keys))}
        if self.hard.keys() - {"Periodic"}:  # every other hard condition is an output transform
            zeros = torch.zeros(len(x), self.out_dim, dtype=x.dtype, device=x.device)
            no_dn = [zeros] * self.space.dim if self.flux is not None else None

            def part(n, dn=no_dn):
                return lambda y: self._output(y, n, dn) - (0 if n is zeros and dn is no_dn else
                                                           self._output(y, zeros, no_dn))

            fixed["a"] = taylor.series(part(zeros), x, keys)
            fixed["b"] = taylor.series(part(zeros + 1), x, keys)
            if self.flux is not None:
                fixed["c"] = [taylor.series(part(zeros, [zeros + (j == axis) for j in range(self.space.dim)]), x, keys)
                              for axis in range(self.space.dim)]
        self._fixed_cache = (points, cache_key, fixed)
        return fixed

    def fingerprint(self) -> str:
        """A digest of the problem this PINN states, not of its weights: its residual and conditions
        evaluated at fixed points for a fixed probe network in its place (every coefficient at 1), so
        ``fit`` refuses to resume a run folder of another equation, condition or domain."""
        import hashlib

        from pdekit.models.pointwise import MLP

        p = next(self.net.parameters())
        with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was (CPU only)
            torch.manual_seed(0)
            probe = MLP(self.input_dim(), self.out_dim, width=8, depth=2).to(p.dtype)
        net, coefficients = self.net, {k: v.detach().clone() for k, v in self.coefficients.items()}
        try:
            self.net = probe
            with torch.no_grad():
                for v in self.coefficients.values():
                    v.fill_(1.0)
            x = torch.as_tensor(self.domain.sample_interior(8, "uniform", np.random.default_rng(0)), dtype=p.dtype)
            x.requires_grad_(True)
            parts = [self._residual(self(x), x)]
            for c in (c for c in self.conditions if not c.hard):  # (hard ones act through the output above)
                points = torch.as_tensor(c.sample(self.domain, 8, np.random.default_rng(1)), dtype=p.dtype)
                parts.append(c.residual(self, points.requires_grad_(True)))
            values = " ".join(f"{v:.5g}" for part in parts for v in part.detach().flatten().tolist())
        finally:
            self.net = net
            with torch.no_grad():
                for k, v in self.coefficients.items():
                    v.copy_(coefficients[k])
        described = [repr(self.domain)] + [f"{type(c).__name__} hard={c.hard} weight={c.weight}" for c in self.conditions]
        return hashlib.sha256(("\n".join(described) + "\n" + values).encode()).hexdigest()[:16]

    @torch.no_grad()
    def predict(self, points) -> np.ndarray:
        """u at (n, d) NumPy points, as a NumPy array (n, k).

        Parameters
        ----------
        points : array-like
            Points (n, d), time last.

        Returns
        -------
        numpy.ndarray
            The values, (n, k), in the network's precision, computed without gradients.
        """
        p = next(self.parameters())
        return self(torch.as_tensor(np.asarray(points), dtype=p.dtype, device=p.device)).cpu().numpy()
