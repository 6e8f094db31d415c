"""Domains for physics-informed training: primitives, their unions and differences, and products
with a time interval.

Every geometry knows its signed distance (positive inside, zero on the boundary), which gives
membership, boundary tests, hard-constraint factors and composition: the union's distance is the
max of the parts', the difference's the min of the first and minus the second (R-functions).
Points are float64 NumPy arrays shaped (n, dim); the time coordinate, where there is one, is last.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from pdekit.errors import ConfigError

SAMPLERS = ("uniform", "lhs", "sobol")
TOL = 1e-9


def unit_points(n: int, dim: int, sampler: str, rng: np.random.Generator) -> np.ndarray:
    """n points in [0, 1)^dim: independent uniform, Latin hypercube or scrambled Sobol."""
    if sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler '{sampler}'; choose one of: {', '.join(SAMPLERS)}")
    if n < 1:
        raise ConfigError(f"the number of points must be >= 1, got {n}")
    if sampler == "uniform":
        return rng.random((n, dim))
    from scipy.stats import qmc

    seed = int(rng.integers(2**31))
    if sampler == "lhs":
        return qmc.LatinHypercube(d=dim, seed=seed).random(n)
    engine = qmc.Sobol(d=dim, scramble=True, seed=seed)
    m = math.ceil(math.log2(n))
    return engine.random_base2(m)[:n]  # a power-of-two prefix keeps the balance properties


def sample_box(n: int, lo: np.ndarray, hi: np.ndarray, sampler: str, rng: np.random.Generator, inside,
               failure: str) -> np.ndarray:
    """n points of the box [lo, hi) where ``inside(x)`` holds, by rejection. A Latin hypercube is
    one only as a whole set, so its first draw is exactly n points (kept whole: a domain that fills
    its box gets a true one); a Sobol prefix and independent points stay themselves when cut, so
    they draw twice what is missing."""
    def draw(missing):
        count = n if sampler == "lhs" and missing == n else max(2 * missing, 16)
        x = lo + (hi - lo) * unit_points(count, len(lo), sampler, rng)
        return x[inside(x)]

    return collect(n, draw, failure)


def collect(n: int, draw, failure: str, tries: int = 100) -> np.ndarray:
    """n points from repeated calls of ``draw(missing)``, each returning the accepted part of a
    fresh batch (rejection sampling); ConfigError(``failure``) when they never add up."""
    out, have = [], 0
    for _ in range(tries):
        x = draw(n - have)
        out.append(x)
        have += len(x)
        if have >= n:
            return np.concatenate(out)[:n]
    raise ConfigError(failure)


class Geometry:
    """A spatial domain known by its signed distance (positive inside, zero on the boundary).

    Subclasses (primitives) set ``dim`` and the bounding box ``lo``, ``hi`` and implement
    ``distance``, ``_boundary_points``, ``normal`` and ``factor``; membership, boundary tests and
    sampling are shared. ``a | b`` is the union, ``a - b`` the difference and
    ``g * TimeInterval(t0, t1)`` the space-time domain. Points are float64 NumPy arrays (n, dim).
    """

    dim: int
    lo: np.ndarray
    hi: np.ndarray

    # --- to implement by primitives ------------------------------------------------------------
    def distance(self, x: np.ndarray) -> np.ndarray:
        """Signed distance to the boundary, positive inside (exact for primitives; for unions and
        differences a lower bound that vanishes exactly on the boundary)."""
        raise NotImplementedError

    def _boundary_points(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def boundary_measure(self) -> float:
        """Length (area) of the boundary, along which ``_boundary_points`` draws uniformly: how
        composites share their candidate points among their primitives."""
        raise NotImplementedError

    def normal(self, x: np.ndarray) -> np.ndarray:
        """Outward unit normals at boundary points."""
        raise NotImplementedError

    def factor(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 1) torch function that is zero on the boundary, positive inside and of order one:
        the multiplier of hard boundary conditions (smooth for intervals, boxes and disks)."""
        raise NotImplementedError

    def distance_field(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 1) torch function phi, zero on the boundary, positive inside, negative outside, whose
        gradient on the boundary is the inward unit normal (a distance normalized to first order,
        Sukumar and Srivastava 2022): what hard Neumann and Robin conditions need, since they read
        the normal derivative as -grad phi . grad u. Smooth except at corners, where it stays finite."""
        raise NotImplementedError

    # --- shared --------------------------------------------------------------------------------
    def contains(self, x: np.ndarray) -> np.ndarray:
        """Whether each point lies inside or on the boundary (signed distance >= -1e-9).

        Parameters
        ----------
        x : numpy.ndarray
            Points (n, dim).

        Returns
        -------
        numpy.ndarray
            Booleans, (n,).
        """
        return self.distance(x) >= -TOL

    def on_boundary(self, x: np.ndarray) -> np.ndarray:
        """Whether each point lies on the boundary: |distance| <= 1e-7 max(1, largest side of the
        bounding box).

        Parameters
        ----------
        x : numpy.ndarray
            Points (n, dim).

        Returns
        -------
        numpy.ndarray
            Booleans, (n,).
        """
        return np.abs(self.distance(x)) <= 1e-7 * max(1.0, float(np.abs(self.hi - self.lo).max()))

    def measure(self, samples: int = 200_000) -> float:
        """Length, area or volume (Monte Carlo over the bounding box for composites)."""
        box = float(np.prod(self.hi - self.lo))
        x = self.lo + (self.hi - self.lo) * np.random.default_rng(0).random((samples, self.dim))
        return box * float(self.contains(x).mean())

    def check(self) -> None:
        """Raise ConfigError if the shape is empty (a bounding box without extent or zero measure)
        or unbounded (points cannot be drawn from an infinite box)."""
        if not (np.isfinite(self.lo).all() and np.isfinite(self.hi).all()):
            raise ConfigError(f"{self!r} is unbounded: a domain needs finite coordinates")
        if not np.all(self.hi > self.lo) or self.measure() <= 0:
            raise ConfigError(f"{self!r} has zero {'length' if self.dim == 1 else 'area' if self.dim == 2 else 'volume'}"
                              f": nothing to sample")

    def sample_interior(self, n: int, sampler: str = "sobol", rng: np.random.Generator | None = None) -> np.ndarray:
        """n points inside (rejection from the bounding box for shapes that do not fill it).

        Parameters
        ----------
        n : int
            Number of points.
        sampler : str
            "uniform", "lhs" (Latin hypercube) or "sobol" (scrambled Sobol), over the bounding box.
        rng : numpy.random.Generator or None
            The generator (None: ``default_rng(0)``).

        Returns
        -------
        numpy.ndarray
            Points (n, dim) strictly inside (signed distance > 1e-9).
        """
        rng = rng or np.random.default_rng(0)

        return sample_box(n, self.lo, self.hi, sampler, rng, lambda x: self.distance(x) > TOL,
                          f"{self!r}: could not place {n} points inside (is its area tiny?)")

    def sample_boundary(self, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """n points on the boundary, distributed as each shape describes.

        Parameters
        ----------
        n : int
            Number of points.
        rng : numpy.random.Generator or None
            The generator (None: ``default_rng(0)``).

        Returns
        -------
        numpy.ndarray
            Points (n, dim).
        """
        rng = rng or np.random.default_rng(0)
        return self._boundary_points(n, rng)

    def __or__(self, other: "Geometry") -> "Geometry":
        return Union(self, other)

    def __sub__(self, other: "Geometry") -> "Geometry":
        return Difference(self, other)

    def __mul__(self, time: "TimeInterval") -> "SpaceTime":
        if not isinstance(time, TimeInterval):
            raise ConfigError("a geometry can only be multiplied by a TimeInterval")
        return SpaceTime(self, time)


class Interval(Geometry):
    """The interval [a, b] (1D).

    Boundary points alternate between a and b; the hard-condition factor is
    4 (x - a) (b - x) / (b - a)^2.

    Parameters
    ----------
    a, b : float
        The ends, a < b.

    Raises
    ------
    ConfigError
        If the shape is empty (zero length, area or volume).
    """

    def __init__(self, a: float, b: float):
        self.dim, self.lo, self.hi = 1, np.array([float(a)]), np.array([float(b)])
        self.check()

    def __repr__(self):
        return f"Interval({self.lo[0]:g}, {self.hi[0]:g})"

    def distance(self, x):
        return np.minimum(x[:, 0] - self.lo[0], self.hi[0] - x[:, 0])

    def boundary_measure(self):
        return 2.0  # its two end points, drawn equally often

    def _boundary_points(self, n, rng):
        return np.where(np.arange(n)[:, None] % 2 == 0, self.lo, self.hi)

    def normal(self, x):
        return np.where(np.abs(x - self.lo) < np.abs(x - self.hi), -1.0, 1.0)

    def factor(self, x):
        a, b = float(self.lo[0]), float(self.hi[0])
        return (x[:, :1] - a) * (b - x[:, :1]) * (4 / (b - a) ** 2)

    def distance_field(self, x):
        a, b = float(self.lo[0]), float(self.hi[0])
        return (x[:, :1] - a) * (b - x[:, :1]) / (b - a)


class Box(Geometry):
    """An axis-aligned rectangle (2D) or box (3D), [lo_0, hi_0] x [lo_1, hi_1] (x ...).

    Boundary points: a face chosen with probability proportional to its area, then uniform on it.
    The hard-condition factor is the product over axes of 4 (x - lo) (hi - x) / (hi - lo)^2.

    Parameters
    ----------
    lo, hi : sequence of float
        The lower and upper corners, 2 or 3 coordinates each.

    Raises
    ------
    ConfigError
        For corners of different or unsupported lengths, or an empty box.
    """

    def __init__(self, lo, hi):
        self.lo, self.hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        self.dim = len(self.lo)
        if self.lo.shape != self.hi.shape or self.dim not in (2, 3):
            raise ConfigError(f"a box needs two corners of 2 or 3 coordinates, got {lo} and {hi}")
        self.check()

    def __repr__(self):
        return f"Box({self.lo.tolist()}, {self.hi.tolist()})"

    def distance(self, x):
        return np.minimum(x - self.lo, self.hi - x).min(axis=1)

    def boundary_measure(self):
        size = self.hi - self.lo
        return float(2 * sum(np.prod(np.delete(size, axis)) for axis in range(self.dim)))

    def _boundary_points(self, n, rng):
        size = self.hi - self.lo
        faces = [(axis, side) for axis in range(self.dim) for side in (0, 1)]
        areas = np.array([np.prod(np.delete(size, axis)) for axis, _ in faces])
        choice = rng.choice(len(faces), size=n, p=areas / areas.sum())
        x = self.lo + size * rng.random((n, self.dim))
        for k, (axis, side) in enumerate(faces):
            x[choice == k, axis] = self.hi[axis] if side else self.lo[axis]
        return x

    def normal(self, x):
        gaps = np.concatenate([x - self.lo, self.hi - x], axis=1)
        k = gaps.argmin(axis=1)
        out = np.zeros_like(x)
        out[np.arange(len(x)), k % self.dim] = np.where(k < self.dim, -1.0, 1.0)
        return out

    def factor(self, x):
        lo, hi = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (self.lo, self.hi))
        z = x[:, : self.dim]
        per_axis = (z - lo) * (hi - z) * (4 / (hi - lo) ** 2)
        worst = per_axis.min(dim=1, keepdim=True).values
        # the product is smooth inside; outside (where it may be positive again) the worst axis keeps the sign
        return torch.where(worst >= 0, per_axis.prod(dim=1, keepdim=True), worst)

    def distance_field(self, x):
        """The per-axis 1D fields (z - lo) (hi - z) / (hi - lo) joined by the R-conjunction."""
        lo, hi = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (self.lo, self.hi))
        z = x[:, : self.dim]
        per_axis = ((z - lo) * (hi - z) / (hi - lo)).split(1, dim=1)
        phi = per_axis[0]
        for other in per_axis[1:]:
            phi = r_and(phi, other)
        return phi


def Rectangle(lo, hi) -> Box:  # noqa: N802  (reads like a class)
    """The rectangle [lo_0, hi_0] x [lo_1, hi_1]: another name for ``Box``.

    Parameters
    ----------
    lo, hi : sequence of float
        The lower-left and upper-right corners (3 coordinates give a 3D box).

    Returns
    -------
    Box
    """
    return Box(lo, hi)


class Disk(Geometry):
    """The disk of ``center`` and ``radius`` (2D).

    Boundary points are uniform in angle; the hard-condition factor is 1 - |x - center|^2 / radius^2.

    Parameters
    ----------
    center : sequence of float
        The center, 2 coordinates.
    radius : float
        The radius (> 0).

    Raises
    ------
    ConfigError
        If the shape is empty (zero length, area or volume).
    """

    def __init__(self, center, radius: float):
        self.center, self.radius = np.asarray(center, dtype=np.float64), float(radius)
        self.dim = 2
        self.lo, self.hi = self.center - self.radius, self.center + self.radius
        self.check()

    def __repr__(self):
        return f"Disk({self.center.tolist()}, {self.radius:g})"

    def distance(self, x):
        return self.radius - np.linalg.norm(x - self.center, axis=1)

    def boundary_measure(self):
        return 2 * math.pi * self.radius

    def _boundary_points(self, n, rng):
        angle = 2 * math.pi * rng.random(n)
        return self.center + self.radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)

    def normal(self, x):
        d = x - self.center
        return d / np.linalg.norm(d, axis=1, keepdims=True)

    def factor(self, x):
        c = torch.as_tensor(self.center, dtype=x.dtype, device=x.device)
        return (1 - ((x[:, :2] - c) ** 2).sum(1, keepdim=True) / self.radius**2)

    def distance_field(self, x):
        return self.factor(x) * (self.radius / 2)


class Polygon(Geometry):
    """A simple polygon from its vertices (either orientation).

    Boundary points: an edge chosen with probability proportional to its length, then uniform on it.
    The hard-condition factor is a smooth approximate distance (see ``factor``).

    Parameters
    ----------
    vertices : array-like
        The vertices (m, 2), m >= 3, in order along the boundary.

    Raises
    ------
    ConfigError
        For fewer than 3 vertices, a wrong shape or zero area.
    """

    def __init__(self, vertices):
        v = np.asarray(vertices, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3:
            raise ConfigError(f"a polygon needs at least 3 vertices (x, y), got shape {v.shape}")
        area = 0.5 * float(np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1]))
        self.vertices = v if area > 0 else v[::-1]  # counter-clockwise
        self.dim, self.lo, self.hi = 2, v.min(axis=0), v.max(axis=0)
        self.start, self.edge = self.vertices, np.roll(self.vertices, -1, axis=0) - self.vertices
        self.check()

    def __repr__(self):
        return f"Polygon({self.vertices.tolist()})"

    def _edge_distances(self, x):
        rel = x[:, None, :] - self.start[None]
        s = np.clip((rel * self.edge).sum(-1) / (self.edge**2).sum(-1), 0, 1)
        return np.linalg.norm(rel - s[..., None] * self.edge, axis=-1)  # (n, edges)

    def _inside(self, x):
        xs, ys = x[:, 0:1], x[:, 1:2]
        x0, y0 = self.start[:, 0], self.start[:, 1]
        x1, y1 = x0 + self.edge[:, 0], y0 + self.edge[:, 1]
        crosses = ((y0 > ys) != (y1 > ys)) & (xs < (x1 - x0) * (ys - y0) / np.where(y1 == y0, 1, y1 - y0) + x0)
        return crosses.sum(axis=1) % 2 == 1

    def distance(self, x):
        d = self._edge_distances(x).min(axis=1)
        return np.where(self._inside(x), d, -d)

    def boundary_measure(self):
        return float(np.linalg.norm(self.edge, axis=1).sum())

    def _boundary_points(self, n, rng):
        lengths = np.linalg.norm(self.edge, axis=1)
        k = rng.choice(len(lengths), size=n, p=lengths / lengths.sum())
        return self.start[k] + rng.random((n, 1)) * self.edge[k]

    def normal(self, x):
        k = self._edge_distances(x).argmin(axis=1)
        e = self.edge[k]
        return np.stack([e[:, 1], -e[:, 0]], axis=1) / np.linalg.norm(e, axis=1, keepdims=True)

    def distance_field(self, x):
        """A smooth approximate distance (Sukumar and Srivastava 2022): per edge, the distance to its
        line trimmed to the segment, sqrt(f^2 + ((sqrt(t^2 + f^4) - t) / 2)^2), joined by
        1 / sum(1 / phi_i), which is zero on every edge and smooth away from the vertices (the
        exact distance has kinks along the medial axis that a hard condition passes on to u)."""
        start, edge = (torch.as_tensor(v, dtype=x.dtype, device=x.device) for v in (self.start, self.edge))
        rel = x[:, None, :2] - start[None]
        length = edge.norm(dim=-1)
        f = (edge[:, 0] * rel[..., 1] - edge[:, 1] * rel[..., 0]) / length  # positive on the inner side
        t = (length**2 / 4 - (rel - edge / 2).pow(2).sum(-1)) / length
        q = (torch.sqrt(t**2 + f**4 + torch.finfo(x.dtype).tiny) - t) / 2
        # on an edge (f = q = 0, to round-off) the square root is |f|, whose gradient flips with the
        # rounding of f: there phi = f + q, equal to round-off, with the inner side's gradient
        square = f**2 + q**2
        scale = length + x[:, :2].detach().abs().max() + start.abs().max()  # the round-off of f grows with |x|
        on_edge = square <= (8 * torch.finfo(x.dtype).eps * scale) ** 2
        phi = torch.where(on_edge, f + q, torch.sqrt(torch.where(on_edge, 1.0, square)))
        d = 1 / (1 / torch.where(on_edge, 1.0, phi)).sum(dim=1, keepdim=True)
        first = on_edge.to(torch.int8).argmax(dim=1, keepdim=True)
        on_boundary = on_edge.any(dim=1, keepdim=True)
        inside = torch.as_tensor(self._inside(x[:, :2].detach().cpu().numpy()), device=x.device)[:, None]
        # on the boundary d = phi of that edge (to first order), already signed; elsewhere the side's sign
        return torch.where(on_boundary, phi.gather(1, first), torch.where(inside, d, -d))

    def factor(self, x):
        """The distance field of ``distance_field`` over the largest side of the bounding box."""
        return self.distance_field(x) / float(np.abs(self.hi - self.lo).max())


class Union(Geometry):
    """The union ``a | b``: signed distance max(d_a, d_b), hard-condition factor the parts' joined by
    Rvachev's disjunction (smooth where the max of the parts' had a kink inside the domain).

    Boundary points are those of the parts that lie on the union's boundary (rejection).

    Parameters
    ----------
    a, b : Geometry
        The parts, of equal dimension.

    Raises
    ------
    ConfigError
        For parts of different dimensions, or an empty union.
    """

    def __init__(self, a: Geometry, b: Geometry):
        if a.dim != b.dim:
            raise ConfigError(f"cannot join a {a.dim}D and a {b.dim}D geometry")
        self.a, self.b, self.dim = a, b, a.dim
        self.lo, self.hi = np.minimum(a.lo, b.lo), np.maximum(a.hi, b.hi)
        self.check()

    def __repr__(self):
        return f"({self.a!r} | {self.b!r})"

    def distance(self, x):
        return np.maximum(self.a.distance(x), self.b.distance(x))

    def _boundary_points(self, n, rng):
        return _keep_on_boundary(self, n, rng)

    def normal(self, x):
        use_a = np.abs(self.a.distance(x)) <= np.abs(self.b.distance(x))
        return np.where(use_a[:, None], self.a.normal(x), self.b.normal(x))

    def factor(self, x):
        return r_or(self.a.factor(x), self.b.factor(x))

    def distance_field(self, x):
        return r_or(self.a.distance_field(x), self.b.distance_field(x))


class Difference(Geometry):
    """The difference ``a - b``: signed distance min(d_a, -d_b), hard-condition factor phi_a and
    -phi_b joined by Rvachev's conjunction (smooth where min(phi_a, -phi_b) had a kink inside).

    Boundary points are those of the parts that lie on the difference's boundary (rejection).

    Parameters
    ----------
    a : Geometry
        The shape to cut from.
    b : Geometry
        The shape cut out, of the same dimension.

    Raises
    ------
    ConfigError
        For parts of different dimensions, or an empty difference.
    """

    def __init__(self, a: Geometry, b: Geometry):
        if a.dim != b.dim:
            raise ConfigError(f"cannot subtract a {b.dim}D geometry from a {a.dim}D one")
        self.a, self.b, self.dim, self.lo, self.hi = a, b, a.dim, a.lo, a.hi
        self.check()

    def __repr__(self):
        return f"({self.a!r} - {self.b!r})"

    def distance(self, x):
        return np.minimum(self.a.distance(x), -self.b.distance(x))

    def _boundary_points(self, n, rng):
        return _keep_on_boundary(self, n, rng)

    def normal(self, x):
        use_a = np.abs(self.a.distance(x)) <= np.abs(self.b.distance(x))
        return np.where(use_a[:, None], self.a.normal(x), -self.b.normal(x))

    def factor(self, x):
        return r_and(self.a.factor(x), -self.b.factor(x))

    def distance_field(self, x):
        return r_and(self.a.distance_field(x), -self.b.distance_field(x))


def _hypot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # the smallest normal number keeps the gradient finite (zero) where both vanish, at a corner
    return torch.sqrt(a * a + b * b + torch.finfo(a.dtype).tiny)


def r_and(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rvachev's conjunction a + b - sqrt(a^2 + b^2): positive where both are, and equal to a to first
    order where a vanishes and b > 0, so a normalized distance stays normalized (intersections)."""
    return a + b - _hypot(a, b)


def r_or(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rvachev's disjunction a + b + sqrt(a^2 + b^2): positive where either is (unions)."""
    return a + b + _hypot(a, b)


def _primitives(geom) -> list:
    return _primitives(geom.a) + _primitives(geom.b) if isinstance(geom, (Union, Difference)) else [geom]


def _keep_on_boundary(geom, n, rng):
    """n points uniform along a composite's boundary: candidates from its primitives' boundaries,
    as many from each as its boundary's share of their total length, kept where they lie on the
    composite's boundary (2n from each part, as before, put 35% of a box-and-disk union's points on
    the disk arc, 10% of its length)."""
    parts = _primitives(geom)
    share = np.array([p.boundary_measure() for p in parts])

    def draw(missing):
        counts = rng.multinomial(2 * n, share / share.sum())
        x = np.concatenate([p.sample_boundary(k, rng) for p, k in zip(parts, counts) if k])
        x = x[geom.on_boundary(x)]
        return x[rng.permutation(len(x))]

    return collect(n, draw, f"{geom!r}: could not place {n} points on the boundary")


class TimeInterval:
    """The time interval [t0, t1]; ``geometry * TimeInterval(t0, t1)`` makes a space-time domain.

    Parameters
    ----------
    t0, t1 : float
        Start and end, t1 > t0.

    Raises
    ------
    ConfigError
        Unless t1 > t0.
    """

    def __init__(self, t0: float, t1: float):
        if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
            raise ConfigError(f"a time interval needs finite t0 < t1, got [{t0}, {t1}]")
        self.t0, self.t1 = float(t0), float(t1)

    def __repr__(self):
        return f"TimeInterval({self.t0!r}, {self.t1!r})"


class SpaceTime:
    """geometry x [t0, t1]: points (x..., t).

    Parameters
    ----------
    space : Geometry
        The spatial domain.
    time : TimeInterval
        The time interval.
    """

    def __init__(self, space: Geometry, time: TimeInterval):
        self.space, self.time, self.dim = space, time, space.dim + 1

    def __repr__(self):  # (what PINN.fingerprint names the domain by: no object address)
        return f"{self.space!r} * {self.time!r}"

    def contains(self, x):
        """Whether each point (x..., t) lies in the closed space-time domain (tolerance 1e-9).

        Parameters
        ----------
        x : numpy.ndarray
            Points (n, dim), time last.

        Returns
        -------
        numpy.ndarray
            Booleans, (n,).
        """
        t = x[:, -1]
        return self.space.contains(x[:, :-1]) & (t >= self.time.t0 - TOL) & (t <= self.time.t1 + TOL)

    def sample_interior(self, n, sampler="sobol", rng=None):
        """n points (x..., t) with x strictly inside the spatial domain and t in [t0, t1): ``sampler``
        over the space-time bounding box, then rejection.

        Parameters
        ----------
        n : int
            Number of points.
        sampler : str
            "uniform", "lhs" or "sobol".
        rng : numpy.random.Generator or None
            The generator (None: ``default_rng(0)``).

        Returns
        -------
        numpy.ndarray
            Points (n, dim), time last.
        """
        rng = rng or np.random.default_rng(0)
        lo, hi = np.append(self.space.lo, self.time.t0), np.append(self.space.hi, self.time.t1)

        return sample_box(n, lo, hi, sampler, rng, lambda x: self.space.distance(x[:, :-1]) > TOL,
                          f"{self.space!r}: could not place {n} points inside")

    def sample_boundary(self, n, rng=None):
        """n points on the lateral boundary: spatial boundary points with uniform times in [t0, t1).

        Parameters
        ----------
        n : int
            Number of points.
        rng : numpy.random.Generator or None
            The generator (None: ``default_rng(0)``).

        Returns
        -------
        numpy.ndarray
            Points (n, dim), time last.
        """
        rng = rng or np.random.default_rng(0)
        t = self.time.t0 + (self.time.t1 - self.time.t0) * rng.random((n, 1))
        return np.concatenate([self.space.sample_boundary(n, rng), t], axis=1)

    def sample_initial(self, n, sampler="sobol", rng=None):
        """n points (x..., t0) with x inside the spatial domain.

        Parameters
        ----------
        n : int
            Number of points.
        sampler : str
            "uniform", "lhs" or "sobol".
        rng : numpy.random.Generator or None
            The generator (None: ``default_rng(0)``).

        Returns
        -------
        numpy.ndarray
            Points (n, dim), time last.
        """
        x = self.space.sample_interior(n, sampler, rng)
        return np.concatenate([x, np.full((n, 1), self.time.t0)], axis=1)

    def normal(self, x):
        """The spatial outward unit normals at lateral boundary points (n, dim): (n, dim - 1)."""
        return self.space.normal(x[:, :-1])
