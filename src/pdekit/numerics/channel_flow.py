"""Incompressible Navier-Stokes in a channel around an obstacle: Taylor-Hood finite elements.

The Schafer-Turek (1996) channel [0, L] x [0, H] (2.2 x 0.41 by default), parabolic inflow
4 U y (H - y) / H^2 on x = 0, no slip on the walls and the obstacle, do-nothing outflow on x = L.
Velocity P2, pressure P1 (inf-sup stable), on triangles whose edges on a circular obstacle are
curved (quadratic geometry), so the discretization error falls at the elements' rate rather than at
the polygon's.

Which libraries and why: gmsh meshes the channel with a hole (a distance-based size field refines
near the obstacle; a hand-written mesher would be the least verified part of the solver) and
scikit-fem assembles the forms (pure Python on NumPy/SciPy, so the weak forms read like the
equations and nothing has to be compiled). Both are imported on first use; ``pip install
'pdekit[fem]'`` installs them.

Steady flow by Newton's method with the exact Jacobian from a Stokes start; unsteady flow by BDF2
with the convecting velocity extrapolated (one linear solve per step). Drag and lift come from the
momentum residual tested with a field equal to e_x or e_y on the obstacle and zero on the other
Dirichlet boundaries (the volume form of the surface integral, which converges at the velocity's
rate, faster than integrating the stress on the boundary).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from pdekit.errors import ConfigError, PdekitError

CHANNEL = (2.2, 0.41)


def _fem():
    try:
        import gmsh
        import skfem
    except ImportError as err:
        raise PdekitError(f"the channel-flow solver needs gmsh and scikit-fem ({err.name} is missing): "
                          "pip install 'pdekit[fem]'") from err
    return gmsh, skfem


@dataclass(frozen=True)
class Obstacle:
    """A circle (``radius`` > 0) or a polygon (``vertices``, (k, 2), counter-clockwise or not) in
    the channel."""

    centre: tuple[float, float] = (0.2, 0.2)
    radius: float = 0.0
    vertices: tuple[tuple[float, float], ...] = ()

    @classmethod
    def circle(cls, centre=(0.2, 0.2), radius: float = 0.05) -> "Obstacle":
        """A circle of ``radius`` around ``centre`` (the benchmark cylinder by default)."""
        return cls(centre=(float(centre[0]), float(centre[1])), radius=float(radius))

    @classmethod
    def polygon(cls, vertices) -> "Obstacle":
        """A polygon through ``vertices`` (k >= 3, 2), not self-intersecting."""
        v = np.asarray(vertices, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3:
            raise ConfigError(f"a polygon obstacle needs (k >= 3, 2) vertices, got shape {v.shape}")
        return cls(centre=tuple(v.mean(0)), vertices=tuple(map(tuple, v)))

    @property
    def height(self) -> float:
        """Extent across the flow (y): the length in the Reynolds number (the diameter of a circle)."""
        if self.radius:
            return 2 * self.radius
        y = np.asarray(self.vertices)[:, 1]
        return float(y.max() - y.min())

    def bounds(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max)."""
        if self.radius:
            (x, y), r = self.centre, self.radius
            return x - r, y - r, x + r, y + r
        v = np.asarray(self.vertices)
        return (*v.min(0), *v.max(0))

    def signed_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance to the obstacle's boundary, negative inside, at points of any matching shapes."""
        if self.radius:
            return np.hypot(x - self.centre[0], y - self.centre[1]) - self.radius
        v = np.asarray(self.vertices)
        px, py = np.asarray(x, dtype=np.float64)[..., None], np.asarray(y, dtype=np.float64)[..., None]
        a, b = v, np.roll(v, -1, axis=0)
        ex, ey = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
        s = np.clip(((px - a[:, 0]) * ex + (py - a[:, 1]) * ey) / (ex ** 2 + ey ** 2), 0, 1)
        dist = np.hypot(px - a[:, 0] - s * ex, py - a[:, 1] - s * ey).min(-1)
        # even-odd rule: a ray to +x crosses the boundary an odd number of times from inside
        cross = ((a[:, 1] > py) != (b[:, 1] > py)) & (px < a[:, 0] + (py - a[:, 1]) * ex / np.where(ey == 0, 1, ey))
        return np.where(cross.sum(-1) % 2 == 1, -dist, dist)


@dataclass
class FlowState:
    """A discrete flow: velocity coefficients (P2, both components) and pressure (P1, vertices)."""

    velocity: np.ndarray
    pressure: np.ndarray
    nu: float
    u_max: float
    newton_steps: int = 0
    extra: dict = field(default_factory=dict)


def channel_mesh(obstacle: Obstacle, h_near: float, h_far: float, channel=CHANNEL):
    """A triangular mesh (scikit-fem MeshTri2) of the channel minus the obstacle: edges of about
    ``h_near`` on the obstacle growing linearly to ``h_far`` 0.3 away; a circle's boundary nodes
    are put on the circle, and its points (x_c +- r, y_c) are mesh vertices. Deterministic (one
    meshing thread)."""
    gmsh, skfem = _fem()
    L, H = channel
    x0, y0, x1, y1 = obstacle.bounds()
    if not (0 < x0 and x1 < L and 0 < y0 and y1 < H):
        raise ConfigError(f"the obstacle {obstacle.bounds()} must lie inside the channel [0, {L}] x [0, {H}]")
    if not 0 < h_near <= h_far:
        raise ConfigError(f"mesh sizes must satisfy 0 < h_near <= h_far, got {h_near}, {h_far}")
    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)
        gmsh.model.add("channel")
        occ = gmsh.model.occ
        rect = occ.addRectangle(0, 0, 0, L, H)
        if obstacle.radius:
            (xc, yc), r = obstacle.centre, obstacle.radius
            c, a, b = occ.addPoint(xc, yc, 0), occ.addPoint(xc + r, yc, 0), occ.addPoint(xc - r, yc, 0)
            loop = occ.addCurveLoop([occ.addCircleArc(a, c, b), occ.addCircleArc(b, c, a)])
        else:
            points = [occ.addPoint(px, py, 0) for px, py in obstacle.vertices]
            loop = occ.addCurveLoop([occ.addLine(p, q) for p, q in zip(points, points[1:] + points[:1])])
        occ.cut([(2, rect)], [(2, occ.addPlaneSurface([loop]))])
        occ.synchronize()
        inner = [tag for _, tag in gmsh.model.getEntities(1)
                 if min(gmsh.model.getBoundingBox(1, tag)[1], H - gmsh.model.getBoundingBox(1, tag)[4]) > 1e-9
                 and gmsh.model.getBoundingBox(1, tag)[0] > 1e-9 and gmsh.model.getBoundingBox(1, tag)[3] < L - 1e-9]
        fields = gmsh.model.mesh.field
        fields.add("Distance", 1)
        fields.setNumbers(1, "CurvesList", inner)
        fields.setNumber(1, "Sampling", 200)
        fields.add("Threshold", 2)
        for key, value in (("InField", 1), ("SizeMin", h_near), ("SizeMax", h_far), ("DistMin", 0.0), ("DistMax", 0.3)):
            fields.setNumber(2, key, value)
        fields.setAsBackgroundMesh(2)
        for key in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints", "MeshSizeFromCurvature"):
            gmsh.option.setNumber("Mesh." + key, 0)
        gmsh.model.mesh.generate(2)
        tags, xyz, _ = gmsh.model.mesh.getNodes()
        _, nodes = gmsh.model.mesh.getElementsByType(2)
    finally:
        gmsh.finalize()
    index = np.zeros(int(tags.max()) + 1, dtype=np.int64)
    index[tags.astype(np.int64)] = np.arange(len(tags))
    p, t = xyz.reshape(-1, 3)[:, :2].T, index[nodes.astype(np.int64)].reshape(-1, 3).T
    used = np.unique(t)  # gmsh keeps the OCC construction points (the circle's centre) as nodes
    renumber = np.full(p.shape[1], -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    straight = skfem.MeshTri1(np.ascontiguousarray(p[:, used]), np.ascontiguousarray(renumber[t]))
    mesh = skfem.MeshTri2.from_mesh(straight)
    if obstacle.radius:
        dofs = mesh.dofs.get_facet_dofs(mesh.boundary_facets()).flatten()
        locs = mesh.doflocs.copy()
        centre = np.asarray(obstacle.centre)[:, None]
        dist = np.hypot(*(locs[:, dofs] - centre))
        on = dofs[dist < 1.01 * obstacle.radius]
        locs[:, on] = centre + (locs[:, on] - centre) * obstacle.radius / np.hypot(*(locs[:, on] - centre))
        mesh = replace(mesh, doflocs=locs)
    return mesh, straight


class ChannelFlow:
    """Taylor-Hood discretization of the channel around ``obstacle`` (see the module docstring).

    Parameters
    ----------
    obstacle : Obstacle
        The body in the channel.
    h_near, h_far : float
        Mesh edge length on the obstacle and far from it.
    channel : (float, float)
        Length and height of the channel.
    """

    def __init__(self, obstacle: Obstacle, h_near: float = 0.005, h_far: float = 0.03, channel=CHANNEL):
        _, skfem = _fem()
        from skfem.helpers import ddot, div, dot, grad, mul

        self.obstacle, self.channel = obstacle, tuple(channel)
        self.mesh, self.straight = channel_mesh(obstacle, h_near, h_far, channel)
        self.ub = skfem.Basis(self.mesh, skfem.ElementVector(skfem.ElementTriP2()), intorder=4)
        self.pb = skfem.Basis(self.mesh, skfem.ElementTriP1(), intorder=4)
        self.n_u, self.n_p = self.ub.N, self.pb.N

        self._laplace = skfem.BilinearForm(lambda u, v, w: ddot(grad(u), grad(v))).assemble(self.ub)
        self.mass = skfem.BilinearForm(lambda u, v, w: dot(u, v)).assemble(self.ub)
        self.div = skfem.BilinearForm(lambda u, q, w: div(u) * q).assemble(self.ub, self.pb)
        self._advect = skfem.BilinearForm(lambda u, v, w: dot(mul(grad(u), w["w"]), v))  # ((w . grad) u, v)
        self._advect_jac = skfem.BilinearForm(lambda u, v, w: dot(mul(grad(w["w"]), u), v))  # ((u . grad) w, v)

        L, H = self.channel
        facets = self.mesh.boundary_facets()
        mid = self.mesh.p[:, self.mesh.facets[:, facets]].mean(1)
        walls = facets[(mid[1] < 1e-9) | (mid[1] > H - 1e-9)]
        inflow = facets[mid[0] < 1e-9]
        body = facets[(mid[0] > 1e-9) & (mid[0] < L - 1e-9) & (mid[1] > 1e-9) & (mid[1] < H - 1e-9)]
        self.fixed = self.ub.get_dofs(np.concatenate([walls, inflow, body])).all()
        self.free = np.setdiff1d(np.arange(self.n_u + self.n_p), self.fixed)
        # the inflow profile for U = 1, and the test fields of drag (e_x) and lift (e_y) on the body
        self.inflow = np.zeros(self.n_u)
        dofs, y = self.ub.get_dofs(inflow), self.ub.doflocs[1]
        for k in (dofs.nodal["u^1"], dofs.facet["u^1"]):
            self.inflow[k] = 4 * y[k] * (H - y[k]) / H ** 2
        on_body = self.ub.get_dofs(body)
        self.drag_field, self.lift_field = np.zeros(self.n_u), np.zeros(self.n_u)
        for target, name in ((self.drag_field, "u^1"), (self.lift_field, "u^2")):
            target[on_body.nodal[name]] = target[on_body.facet[name]] = 1.0
        self._zero_pp = sp.csr_matrix((self.n_p, self.n_p))

    @property
    def dofs(self) -> int:
        """Unknowns: both velocity components and the pressure."""
        return self.n_u + self.n_p

    def advection(self, w: np.ndarray) -> sp.csr_matrix:
        """The matrix of u -> ((w . grad) u, v)."""
        return self._advect.assemble(self.ub, w=self.ub.interpolate(w))

    def _solve(self, block: sp.spmatrix, rhs: np.ndarray, boundary: np.ndarray) -> np.ndarray:
        """The saddle-point system [[block, -B^T], [-B, 0]] x = rhs with x = boundary on the fixed dofs."""
        system = sp.bmat([[block, -self.div.T], [-self.div, self._zero_pp]], format="csr")
        x = boundary.copy()
        r = rhs - system @ x
        x[self.free] += splu(system[self.free][:, self.free].tocsc()).solve(r[self.free])
        return x

    def momentum_residual(self, state: FlowState, dudt: np.ndarray | None = None,
                          advection: sp.spmatrix | None = None) -> np.ndarray:
        """nu (grad u, grad v) + ((u . grad) u, v) - (p, div v) (+ (u_t, v)) for every velocity test
        function v: zero on the free dofs at a solution. ``advection``: the state's own advection
        matrix where the caller has it already."""
        u = state.velocity
        advection = self.advection(u) if advection is None else advection
        r = state.nu * (self._laplace @ u) + advection @ u - self.div.T @ state.pressure
        return r if dudt is None else r + self.mass @ dudt

    def _boundary(self, u_max: float) -> np.ndarray:
        """The Dirichlet data of every unknown: the inflow profile, zero elsewhere."""
        return np.concatenate([u_max * self.inflow, np.zeros(self.n_p)])

    def stokes(self, nu: float, u_max: float) -> FlowState:
        """The Stokes flow (no advection) for the same boundary data: Newton's and time stepping's start."""
        x = self._solve(nu * self._laplace, np.zeros(self.dofs), self._boundary(u_max))
        return FlowState(x[: self.n_u], x[self.n_u :], nu, u_max)

    def steady(self, nu: float, u_max: float, tol: float = 1e-10, max_steps: int = 30) -> FlowState:
        """The steady flow for viscosity ``nu`` and peak inflow ``u_max``: Newton's method from the
        Stokes solution, until every free discrete equation holds to ``tol`` (max-norm).

        Raises
        ------
        PdekitError
            When Newton does not converge in ``max_steps`` (Re too high for a steady solution to be
            reached from Stokes).
        """
        start = self.stokes(nu, u_max)
        x = np.concatenate([start.velocity, start.pressure])
        for step in range(max_steps + 1):
            state = FlowState(x[: self.n_u], x[self.n_u :], nu, u_max, step)
            w = self.ub.interpolate(state.velocity)
            advection = self._advect.assemble(self.ub, w=w)  # in the residual and the Jacobian both
            r = np.concatenate([self.momentum_residual(state, advection=advection), -self.div @ state.velocity])
            if np.abs(r[self.free]).max() < tol:
                return state
            jac = nu * self._laplace + advection + self._advect_jac.assemble(self.ub, w=w)
            x = x + self._solve(jac, -r, np.zeros(self.dofs))
        raise PdekitError(f"Newton did not converge in {max_steps} steps (nu = {nu:g}, u_max = {u_max:g}); "
                          f"residual {np.abs(r[self.free]).max():.2e}")

    def forces(self, state: FlowState, dudt: np.ndarray | None = None) -> tuple[float, float]:
        """(drag, lift) on the obstacle per unit depth (density 1)."""
        r = self.momentum_residual(state, dudt)
        return -float(r @ self.drag_field), -float(r @ self.lift_field)

    def coefficients(self, state: FlowState, dudt: np.ndarray | None = None) -> tuple[float, float]:
        """(c_D, c_L) = 2 F / (Ubar^2 D), Ubar = 2 u_max / 3 the mean inflow, D the obstacle's height."""
        scale = 2 / ((2 * state.u_max / 3) ** 2 * self.obstacle.height)
        drag, lift = self.forces(state, dudt)
        return scale * drag, scale * lift

    def pressure_at_vertex(self, state: FlowState, x: float, y: float) -> float:
        """The pressure at the mesh vertex at (x, y) (a vertex must lie there)."""
        d = np.hypot(self.mesh.p[0] - x, self.mesh.p[1] - y)
        if d.min() > 1e-12:
            raise PdekitError(f"no mesh vertex at ({x}, {y}) (nearest {d.min():.2e} away)")
        return float(state.pressure[np.argmin(d)])

    def unsteady(self, nu: float, u_max: float, t_final: float, dt: float, start: FlowState | None = None,
                 progress: bool = False) -> dict[str, np.ndarray]:
        """Time-dependent flow from ``start`` (default: the Stokes flow) to ``t_final``: BDF2 (first
        step implicit Euler) with the convecting velocity extrapolated, 2 u^n - u^(n-1); returns
        the times and c_D, c_L after each step, and the final state."""
        boundary = self._boundary(u_max)
        start = self.stokes(nu, u_max) if start is None else start
        u_prev, u, p = start.velocity, start.velocity, start.pressure
        steps = int(round(t_final / dt))
        times, drag, lift = np.arange(1, steps + 1) * dt, np.zeros(steps), np.zeros(steps)
        began = time.perf_counter()
        for n in range(steps):
            # BDF: (a u^(n+1) - history) / dt
            a, history = (1.0, u) if n == 0 else (1.5, 2 * u - 0.5 * u_prev)
            convect = u if n == 0 else 2 * u - u_prev
            block = (a / dt) * self.mass + nu * self._laplace + self.advection(convect)
            x = self._solve(block, np.concatenate([self.mass @ history / dt, np.zeros(self.n_p)]), boundary)
            u_new, p = x[: self.n_u], x[self.n_u :]
            dudt = (a * u_new - history) / dt
            u_prev, u = u, u_new
            drag[n], lift[n] = self.coefficients(FlowState(u, p, nu, u_max), dudt)
            if progress and (n + 1) % 100 == 0:
                print(f"  t = {times[n]:.2f}: c_D {drag[n]:.4f}, c_L {lift[n]:+.4f} "
                      f"({(time.perf_counter() - began) / (n + 1):.3f} s/step)", flush=True)
        return {"t": times, "c_d": drag, "c_l": lift, "state": FlowState(u, p, nu, u_max)}

    def on_grid(self, state: FlowState, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """u, v and p at the points (x, y) (arrays of one shape): the finite-element functions
        evaluated where a point lies in the mesh, zero elsewhere (inside the obstacle). Points are
        located on the straight-edged mesh, which differs from the curved one only in the thin
        elements along a circle."""
        from matplotlib.tri import Triangulation

        shape = np.shape(x)
        pts = np.stack([np.ravel(x), np.ravel(y)]).astype(np.float64)
        tri = Triangulation(*self.straight.p, self.straight.t.T)
        cell = tri.get_trifinder()(*pts)
        inside = cell >= 0
        cell, pts = cell[inside], pts[:, inside]
        corners = self.straight.p[:, self.straight.t[:, cell]]  # (2, 3, n)
        edges = np.transpose(np.stack([corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]], 1), (2, 0, 1))
        l1, l2 = np.linalg.solve(edges, (pts - corners[:, 0]).T[..., None])[..., 0].T
        lam = np.stack([1 - l1 - l2, l1, l2])  # barycentric coordinates
        # P2 shape functions in scikit-fem's order: vertices, then edges (0, 1), (1, 2), (0, 2)
        p2 = np.stack([*(lam * (2 * lam - 1)), 4 * lam[0] * lam[1], 4 * lam[1] * lam[2], 4 * lam[0] * lam[2]])
        (ux, scalar), (uy, _) = self.ub.split(state.velocity)
        dofs = scalar.element_dofs[:, cell]
        out = [np.zeros(len(inside)) for _ in range(3)]
        out[0][inside], out[1][inside] = (p2 * ux[dofs]).sum(0), (p2 * uy[dofs]).sum(0)
        out[2][inside] = (lam * state.pressure[self.straight.t[:, cell]]).sum(0)
        return tuple(o.reshape(shape) for o in out)


def shedding(history: dict[str, np.ndarray], t_from: float, diameter: float = 0.1, u_mean: float = 1.0) -> dict:
    """Maximum c_D and c_L and the Strouhal number D f / Ubar of a periodic lift signal after
    ``t_from`` (f from the mean spacing of the upward zero crossings of c_L, linearly
    interpolated)."""
    keep = history["t"] >= t_from
    t, cl, cd = history["t"][keep], history["c_l"][keep], history["c_d"][keep]
    up = np.where((cl[:-1] < 0) & (cl[1:] >= 0))[0]
    if len(up) < 3:
        raise PdekitError(f"fewer than 3 periods of lift after t = {t_from}: no shedding to measure")
    crossings = t[up] - cl[up] * (t[up + 1] - t[up]) / (cl[up + 1] - cl[up])
    frequency = (len(crossings) - 1) / (crossings[-1] - crossings[0])
    return {"c_d_max": float(cd.max()), "c_l_max": float(cl.max()), "strouhal": float(diameter * frequency / u_mean),
            "periods": len(crossings) - 1}
