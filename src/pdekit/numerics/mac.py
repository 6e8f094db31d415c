"""Steady incompressible Navier-Stokes on the unit square by Newton's method on a staggered grid.

    (u . grad) u - (1 / Re) lap u + grad p = f,   div u = 0   in (0, 1)^2,   u = g on the boundary.

Second-order finite differences on the MAC grid of N x N cells (side h = 1 / N): p at cell
centres, u on the vertical faces (x = i h, y = (j + 1/2) h), v on the horizontal faces. The
convective term is in divergence form, d(uu)/dx + d(uv)/dy, with midpoint averages; a tangential
wall value g enters through a mirrored ghost value (g is the mean of the ghost and the first value
inside). The pressure is fixed by p = 0 in one cell (in place of that cell's continuity equation,
which the others imply) and returned with zero mean.

The discrete equations are solved by Newton's method with the exact sparse Jacobian and sparse
direct solves, reusing LU factors while they serve; a backtracking line search damps the steps,
and a Reynolds number above 400 is reached by continuation from Re = 100. The equations are
quadratic, so coloured central differences give the Jacobian exactly (``jacobian``); the
forward-mode ``exact_jacobian`` (every quantity carried with its derivative, ``_Lin``) gives its
sparsity pattern and checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pdekit.errors import PdekitError

Field = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (x, y) -> values, vectorized


class _Lin:
    """Grid values with their sparse Jacobian with respect to the unknowns (forward mode)."""

    def __init__(self, val: np.ndarray, jac: sp.csr_matrix):
        self.val, self.jac = val, jac

    def __getitem__(self, key) -> "_Lin":
        rows = np.arange(self.val.size).reshape(self.val.shape)[key]
        return _Lin(self.val[key], self.jac[rows.ravel()])

    def __add__(self, other: "_Lin") -> "_Lin":
        return _Lin(self.val + other.val, self.jac + other.jac)

    def __sub__(self, other: "_Lin") -> "_Lin":
        return _Lin(self.val - other.val, self.jac - other.jac)

    def __mul__(self, other: "_Lin | float") -> "_Lin":
        if isinstance(other, _Lin):  # the product rule
            return _Lin(self.val * other.val, sp.diags(other.val.ravel()) @ self.jac
                        + sp.diags(self.val.ravel()) @ other.jac)
        return _Lin(self.val * other, self.jac * other)

    __rmul__ = __mul__


@dataclass
class FlowSolution:
    """A converged steady flow: face velocities, cell-centre pressure, and how Newton went."""

    u: np.ndarray  # (N + 1, N) on the vertical faces, walls included
    v: np.ndarray  # (N, N + 1) on the horizontal faces, walls included
    p: np.ndarray  # (N, N) at the cell centres, zero mean
    re: float
    iterations: int  # Newton steps at the final Reynolds number
    residual: float  # max-norm of the discrete equations at the end

    def nodes(self, g: Field) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """u, v and p on the (N + 1) x (N + 1) cell corners, indexed [x, y]: velocities as the
        mean of the two neighbouring face values (the wall data g on the boundary), the pressure
        as the mean of the four neighbouring cells (extrapolated linearly past the walls), shifted
        to zero mean over the nodes."""
        n = self.p.shape[0]
        x = np.linspace(0.0, 1.0, n + 1)
        u = np.empty((n + 1, n + 1))
        u[:, 1:-1] = 0.5 * (self.u[:, 1:] + self.u[:, :-1])
        u[:, 0], u[:, -1] = g(x, np.zeros_like(x))[0], g(x, np.ones_like(x))[0]
        v = np.empty((n + 1, n + 1))
        v[1:-1] = 0.5 * (self.v[1:] + self.v[:-1])
        v[0], v[-1] = g(np.zeros_like(x), x)[1], g(np.ones_like(x), x)[1]
        q = np.pad(self.p, 1, mode="reflect", reflect_type="odd")  # 2 p_0 - p_1 past each wall
        p = 0.25 * (q[1:, 1:] + q[:-1, 1:] + q[1:, :-1] + q[:-1, :-1])
        return u, v, p - p.mean()


class StaggeredNavierStokes:
    """The discrete steady Navier-Stokes equations on N x N MAC cells.

    Parameters
    ----------
    n : cells per side (at least 4).
    g : wall velocity, ``g(x, y) -> (u, v)`` on boundary points (the lid-driven cavity: u = 1 on
        y = 1, else 0); its normal component must carry no net flux.
    f : body force ``f(x, y) -> (f_u, f_v)`` or None (manufactured solutions use it).
    """

    def __init__(self, n: int, g: Field, f: Field | None = None):
        if n < 4:
            raise PdekitError(f"the staggered Navier-Stokes solver needs at least 4 cells per side, got {n}")
        self.n, self.h, self.g = n, 1.0 / n, g
        self.nu_, self.nv_ = (n - 1) * n, n * (n - 1)
        self.size = self.nu_ + self.nv_ + n * n
        h, s = self.h, np.arange(n) + 0.5
        xu, yu = np.meshgrid(np.arange(1, n) * h, s * h, indexing="ij")  # interior u faces
        xv, yv = np.meshgrid(s * h, np.arange(1, n) * h, indexing="ij")  # interior v faces
        zero = (np.zeros_like(xu), np.zeros_like(xv))
        self.force = (f(xu, yu)[0], f(xv, yv)[1]) if f is not None else zero
        self._u_ext, self._v_ext = self._extension("u"), self._extension("v")
        self._p = sp.eye(n * n, self.size, k=self.nu_ + self.nv_, format="csr")
        self._colouring = None  # made on the first Jacobian

    def _extension(self, name: str) -> tuple[np.ndarray, sp.csr_matrix]:
        """(constant, matrix) of the affine map from the unknowns to one velocity component on its
        faces with the wall values and a ghost layer: u on (N + 1, N + 2), v on (N + 2, N + 1)."""
        n, h = self.n, self.h
        shape = (n + 1, n + 2) if name == "u" else (n + 2, n + 1)
        const = np.zeros(shape)
        rows, cols, vals = [], [], []
        first = 0 if name == "u" else self.nu_

        def unknown(i, j):  # index of the interior face (i, j) of this component
            return first + ((i - 1) * n + j if name == "u" else i * (n - 1) + j - 1)

        component = 0 if name == "u" else 1
        for a in range(shape[0]):
            for b in range(shape[1]):
                # (i, j): face indices; u: i = a (x faces), j = b - 1 (cells, ghosts at -1, n); v: swapped
                normal, tangential = (a, b - 1) if name == "u" else (b, a - 1)
                row = a * shape[1] + b
                inside = 1 <= normal <= n - 1
                if inside and 0 <= tangential <= n - 1:
                    rows.append(row), cols.append(unknown(*((normal, tangential) if name == "u" else (tangential, normal))))
                    vals.append(1.0)
                elif not inside and 0 <= tangential <= n - 1:  # on a wall normal to this component
                    x, y = (normal * h, (tangential + 0.5) * h)
                    x, y = (x, y) if name == "u" else (y, x)
                    const[a, b] = self.g(np.array([x]), np.array([y]))[component][0]
                elif inside:  # ghost past a wall tangential to this component: mean = wall value
                    wall = 0.0 if tangential < 0 else 1.0
                    x, y = (normal * h, wall) if name == "u" else (wall, normal * h)
                    const[a, b] = 2 * self.g(np.array([x]), np.array([y]))[component][0]
                    near = 0 if tangential < 0 else n - 1
                    rows.append(row), cols.append(unknown(*((normal, near) if name == "u" else (near, normal))))
                    vals.append(-1.0)
        matrix = sp.csr_matrix((vals, (rows, cols)), shape=(const.size, self.size))
        return const, matrix

    def _lin(self, ext, x: np.ndarray) -> _Lin:
        const, matrix = ext
        return _Lin(const + (matrix @ x).reshape(const.shape), matrix)

    def _equations(self, u, v, p, re: float):
        """The momentum and continuity equations from the extended u, v and the pressure: NumPy
        arrays with leading batch axes, or ``_Lin`` (values and Jacobian); (mom_u, mom_v, div)."""
        h = self.h
        uc = 0.5 * (u[..., :-1, 1:-1] + u[..., 1:, 1:-1])  # u at the cell centres (n, n)
        vc = 0.5 * (v[..., 1:-1, :-1] + v[..., 1:-1, 1:])  # v at the cell centres (n, n)
        corner = (0.5 * (u[..., :, :-1] + u[..., :, 1:])) * (0.5 * (v[..., :-1, :] + v[..., 1:, :]))  # uv at the corners
        uu, vv = uc * uc, vc * vc

        def lap(w):  # 5-point Laplacian at the interior points of an extended component
            return (1 / h**2) * (w[..., 2:, 1:-1] + w[..., :-2, 1:-1] + w[..., 1:-1, 2:] + w[..., 1:-1, :-2]
                                 - 4 * w[..., 1:-1, 1:-1])

        mom_u = ((1 / h) * (uu[..., 1:, :] - uu[..., :-1, :] + corner[..., 1:-1, 1:] - corner[..., 1:-1, :-1])
                 - (1 / re) * lap(u) + (1 / h) * (p[..., 1:, :] - p[..., :-1, :]))
        mom_v = ((1 / h) * (vv[..., :, 1:] - vv[..., :, :-1] + corner[..., 1:, 1:-1] - corner[..., :-1, 1:-1])
                 - (1 / re) * lap(v) + (1 / h) * (p[..., :, 1:] - p[..., :, :-1]))
        div = u[..., 1:, 1:-1] - u[..., :-1, 1:-1] + v[..., 1:-1, 1:] - v[..., 1:-1, :-1]  # h times the divergence
        return mom_u, mom_v, div

    def values(self, x: np.ndarray, re: float) -> np.ndarray:
        """The discrete equations at ``x`` (u-momentum, v-momentum, continuity), or at each row of
        a batch ``x`` (B, size)."""
        batch = x.reshape(-1, self.size)
        (cu, mu), (cv, mv) = self._u_ext, self._v_ext
        u = cu + (mu @ batch.T).T.reshape(-1, *cu.shape)
        v = cv + (mv @ batch.T).T.reshape(-1, *cv.shape)
        p = batch[:, self.nu_ + self.nv_:].reshape(-1, self.n, self.n)
        mom_u, mom_v, div = self._equations(u, v, p, re)
        div = div.reshape(len(batch), -1)
        div[:, 0] = batch[:, self.nu_ + self.nv_]  # p = 0 in cell (0, 0) replaces its continuity equation
        out = np.concatenate([(mom_u - self.force[0]).reshape(len(batch), -1),
                              (mom_v - self.force[1]).reshape(len(batch), -1), div], axis=1)
        return out.reshape(x.shape)

    def exact_jacobian(self, x: np.ndarray, re: float) -> sp.csr_matrix:
        """The Jacobian of ``values`` at ``x`` by forward-mode sparse derivatives (``_Lin``): exact,
        and the sparsity pattern the fast ``jacobian`` fills."""
        n = self.n
        u, v = self._lin(self._u_ext, x), self._lin(self._v_ext, x)
        p = _Lin(x[self.nu_ + self.nv_:].reshape(n, n), self._p)
        mom_u, mom_v, div = self._equations(u, v, p, re)
        pinned = div.jac.tolil()
        pinned.rows[0], pinned.data[0] = [self.nu_ + self.nv_], [1.0]
        return sp.vstack([mom_u.jac, mom_v.jac, pinned.tocsr()]).tocsr()

    def jacobian(self, x: np.ndarray, re: float) -> sp.csr_matrix:
        """The Jacobian of ``values`` at ``x``, exact to round-off, and 4-5 times faster than
        ``exact_jacobian`` on 16 x 16 cells (on 64 x 64 cells both take about the same time, a
        fraction of the LU factorization's): the equations are quadratic in x, so (F(x + d) - F(x - d)) / 2 = J d
        exactly for any d; with d the sum of the unit vectors of one colour (unknowns no equation
        shares), each row of J d is one entry of J. One batched evaluation covers every colour."""
        if self._colouring is None:
            self._colouring = self._colour()
        pattern, colour, steps = self._colouring
        both = self.values(np.concatenate([x + steps, x - steps]), re)
        columns = 0.5 * (both[:len(steps)] - both[len(steps):])  # (colours, equations): J d per colour
        rows = np.repeat(np.arange(self.size), np.diff(pattern.indptr))
        data = columns[colour[pattern.indices], rows]
        return sp.csr_matrix((data, pattern.indices, pattern.indptr), shape=pattern.shape)

    def _colour(self) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """(pattern, colour of each unknown, one step vector per colour): the unknowns of each kind
        (u, v, p) coloured by their face or cell index modulo k, the smallest k from 3 up under
        which no equation holds two unknowns of one colour (checked on the pattern)."""
        n = self.n
        pattern = self.exact_jacobian(np.random.default_rng(0).standard_normal(self.size), 100.0)
        pattern.data[:] = 1.0
        i_u, j_u = np.divmod(np.arange(self.nu_), n)
        i_v, j_v = np.divmod(np.arange(self.nv_), n - 1)
        i_p, j_p = np.divmod(np.arange(n * n), n)
        kind = np.repeat([0, 1, 2], [self.nu_, self.nv_, n * n])
        i, j = np.concatenate([i_u, i_v, i_p]), np.concatenate([j_u, j_v, j_p])
        for k in range(3, n + 1):
            colour = (kind * k + i % k) * k + j % k
            shares = pattern @ sp.csr_matrix((np.ones(self.size), (np.arange(self.size), colour)))
            if shares.max() <= 1:
                break
        else:  # (unreachable: with k = n every unknown of a kind has its own colour)
            raise PdekitError("no colouring of the staggered unknowns found")
        used, colour = np.unique(colour, return_inverse=True)
        steps = np.zeros((len(used), self.size))
        steps[colour, np.arange(self.size)] = 1.0
        return pattern, colour, steps

    def newton(self, re: float, x0: np.ndarray | None = None, tol: float = 1e-10,
               max_steps: int = 30) -> tuple[np.ndarray, int, float]:
        """Newton from ``x0`` (rest if None) at ``re``: (x, steps, final max-norm residual); raises
        PdekitError if it does not converge within ``max_steps`` steps (with old factors or new
        ones). Once a full step cuts the residual at least fourfold, the next steps reuse its LU
        factors (a solve with them costs a few per cent of a factorization) for as long as each,
        taken whole, cuts the residual fourfold again; a step that does not is not taken, and
        Newton goes on from the same flow with fresh factors."""
        x = np.zeros(self.size) if x0 is None else x0.copy()
        r = self.values(x, re)
        norm, lu, step = float(np.abs(r).max()), None, 0
        if norm < tol:  # (no step could lower a zero residual)
            return x, 0, norm
        for step in range(1, max_steps + 1):
            if lu is not None:  # the old factors, kept only for a fourfold cut
                dx = lu.solve(-r)
                trial = self.values(x + dx, re)
                trial_norm, t = float(np.abs(trial).max()), 1.0
                if not trial_norm <= 0.25 * norm:
                    lu = None
            if lu is None:
                try:
                    lu = spla.splu(self.jacobian(x, re).tocsc())
                except RuntimeError:  # an exactly singular Jacobian: no Newton step from here
                    break
                dx, t = lu.solve(-r), 1.0
                while True:  # backtrack until the residual falls, down to steps of 1/1024
                    trial = self.values(x + t * dx, re)
                    trial_norm = float(np.abs(trial).max())
                    if trial_norm < norm or t < 1e-3:
                        break
                    t /= 2
                if not trial_norm < norm:  # no step of the Newton direction lowers the residual (or it is not finite)
                    break
                if not (t == 1.0 and trial_norm <= 0.25 * norm):
                    lu = None
            x, r, norm = x + t * dx, trial, trial_norm
            if norm < tol:
                return x, step, norm
        raise PdekitError(f"Newton's method did not converge at Re = {re:g} on {self.n} x {self.n} cells "
                          f"(residual {norm:.3g} after {step} steps)")

    def solve(self, re: float, tol: float = 1e-10) -> FlowSolution:
        """The steady flow at Reynolds number ``re``: Newton from rest up to Re = 400 (where it
        converges in 8 to 14 steps, 2 to 6 of them with new LU factors), beyond that (or if it
        fails) continuation from Re = 100 in steps of at most a factor 2, each Newton started from
        the previous flow (those on the way solved to max(tol, 1e-6) only: starting points)."""
        if re <= 400:
            try:
                return self._solution(re, *self.newton(re, tol=tol))
            except PdekitError:
                if re <= 100:
                    raise
        x, current = None, 100.0
        while True:  # continuation: 100, 200, 400, ..., re
            x, steps, norm = self.newton(current, x, tol=tol if current >= re else max(tol, 1e-6))
            if current >= re:
                return self._solution(re, x, steps, norm)
            current = min(re, 2 * current)

    def _solution(self, re: float, x: np.ndarray, steps: int, norm: float) -> FlowSolution:
        u = self._lin(self._u_ext, x).val[:, 1:-1]
        v = self._lin(self._v_ext, x).val[1:-1, :]
        p = x[self.nu_ + self.nv_:].reshape(self.n, self.n)
        return FlowSolution(u, v, p - p.mean(), float(re), steps, norm)


def lid_driven(x: np.ndarray, y: np.ndarray, lid: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Wall velocity of the lid-driven cavity: u = lid on the top wall y = 1, zero elsewhere."""
    return np.where(np.isclose(y, 1.0), lid, 0.0) * np.ones_like(x), np.zeros_like(x)
