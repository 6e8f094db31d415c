"""Second-order finite volumes for -div(a grad u) = f on the node grid of [0, 1]^2, u = 0 on the
boundary, with the coefficient averaged harmonically onto cell faces (exact flux continuity
across an interface midway between nodes). A sparse direct solve (SciPy) serves the CPU; a
batched Jacobi-preconditioned CG in torch serves GPUs and large batches.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from pdekit.errors import PdekitError, how_to_set


def face_coefficients(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Harmonic means of a between neighbouring nodes: along x (n-1, n) and along y (n, n-1)."""
    ax = 2 * a[..., 1:, :] * a[..., :-1, :] / (a[..., 1:, :] + a[..., :-1, :])
    ay = 2 * a[..., :, 1:] * a[..., :, :-1] / (a[..., :, 1:] + a[..., :, :-1])
    return ax, ay


def apply_operator(u: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """-div(a grad u) at the interior nodes, (batch, n-2, n-2), for u given on all n x n nodes."""
    n = a.shape[-1]
    h2 = (1.0 / (n - 1)) ** 2
    ax, ay = face_coefficients(a)
    flux_x = ax * (u[..., 1:, :] - u[..., :-1, :])  # (n-1, n)
    flux_y = ay * (u[..., :, 1:] - u[..., :, :-1])  # (n, n-1)
    div = (flux_x[..., 1:, 1:-1] - flux_x[..., :-1, 1:-1]) + (flux_y[..., 1:-1, 1:] - flux_y[..., 1:-1, :-1])
    return -div / h2


def assemble(a: np.ndarray) -> sp.csr_matrix:
    """The sparse matrix of the interior unknowns (row-major over (i, j) = x, y) for one a (n, n)."""
    n = a.shape[0]
    m = n - 2
    h2 = (1.0 / (n - 1)) ** 2
    ax, ay = (c.numpy() for c in face_coefficients(torch.from_numpy(a)))
    west, east = ax[:-1, 1:-1], ax[1:, 1:-1]  # faces i-1/2 and i+1/2 of interior node (i, j)
    south, north = ay[1:-1, :-1], ay[1:-1, 1:]
    idx = np.arange(m * m).reshape(m, m)
    rows = [idx.ravel()]
    cols = [idx.ravel()]
    vals = [(west + east + south + north).ravel()]
    for coeff, shift in ((west, (-1, 0)), (east, (1, 0)), (south, (0, -1)), (north, (0, 1))):
        si = slice(max(0, -shift[0]), m - max(0, shift[0]))
        sj = slice(max(0, -shift[1]), m - max(0, shift[1]))
        ti = slice(max(0, shift[0]), m - max(0, -shift[0]))
        tj = slice(max(0, shift[1]), m - max(0, -shift[1]))
        rows.append(idx[si, sj].ravel())
        cols.append(idx[ti, tj].ravel())
        vals.append(-coeff[si, sj].ravel())
    matrix = sp.coo_matrix((np.concatenate(vals) / h2, (np.concatenate(rows), np.concatenate(cols))), shape=(m * m, m * m))
    return matrix.tocsc()


def solve_direct(a: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Sparse LU solve, one sample at a time on the CPU: a, f (batch, n, n) -> u (batch, n, n)."""
    n = a.shape[-1]
    out = torch.zeros(a.shape, dtype=torch.float64)
    a_np = a.detach().cpu().to(torch.float64).numpy()
    f_np = f.detach().cpu().to(torch.float64).numpy()
    for b in range(a.shape[0]):
        # minimum degree on A + A^T suits the symmetric 5-point matrix (about 1.5x faster than COLAMD)
        lu = spla.splu(assemble(a_np[b]), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
        u = lu.solve(f_np[b, 1:-1, 1:-1].ravel())
        out[b, 1:-1, 1:-1] = torch.from_numpy(u.reshape(n - 2, n - 2))
    return out.to(a.device)


def solve_cg(a: torch.Tensor, f: torch.Tensor, rtol: float = 1e-10, max_iter: int | None = None) -> torch.Tensor:
    """Batched Jacobi-preconditioned conjugate gradients, matrix-free, on a's device. A sample stops
    at its own tolerance (its iterate is then frozen), so its result does not depend on the others
    in the batch."""
    n = a.shape[-1]
    h2 = (1.0 / (n - 1)) ** 2
    ax, ay = face_coefficients(a)
    diag = (ax[..., :-1, 1:-1] + ax[..., 1:, 1:-1] + ay[..., 1:-1, :-1] + ay[..., 1:-1, 1:]) / h2
    max_iter = max_iter or 50 * n
    pad = lambda v: torch.nn.functional.pad(v, (1, 1, 1, 1))  # noqa: E731
    b = f[..., 1:-1, 1:-1]
    x = torch.zeros_like(b)
    r = b.clone()
    z = r / diag
    p = z.clone()
    rz = (r * z).sum((-2, -1), keepdim=True)
    b_norm = b.flatten(1).norm(dim=1)
    done = (r.flatten(1).norm(dim=1) <= rtol * b_norm).view(-1, 1, 1)  # a zero right-hand side: u = 0
    if bool(done.all()):
        return pad(x)
    for _ in range(max_iter):
        ap = apply_operator(pad(p), a)
        alpha = torch.where(done, 0.0, rz / (p * ap).sum((-2, -1), keepdim=True))  # a converged sample stays put
        x = x + alpha * p
        r = r - alpha * ap
        done = (r.flatten(1).norm(dim=1) <= rtol * b_norm).view(-1, 1, 1)
        if bool(done.all()):
            return pad(x)
        z = r / diag
        rz_new = (r * z).sum((-2, -1), keepdim=True)
        p = z + torch.where(done, 0.0, rz_new / rz) * p  # (rz = 0 where the right-hand side is)
        rz = rz_new
    worst = float((r.flatten(1).norm(dim=1) / b_norm).max())
    raise PdekitError(
        f"darcy CG did not converge in {max_iter} iterations (relative residual {worst:.2e} > {rtol:g}); "
        f"use {how_to_set('solver', 'direct')} or raise {how_to_set('cg_max_iter')}"
    )


# --- a tensor coefficient: -div(K grad u) = f, K = [[k11, k12], [k12, k22]] at the nodes ----------
# The 5-point part is the scalar scheme's (k11 on x faces, k22 on y faces, harmonic means); the
# cross fluxes k12 du/dy on x faces and k12 du/dx on y faces use the arithmetic mean of k12 and a
# central difference over the face's four neighbours, a 9-point stencil, second order for smooth K.
# With k12 = 0 and k11 = k22 = a it is the scalar scheme.


def apply_tensor_operator(u: torch.Tensor, k11: torch.Tensor, k12: torch.Tensor, k22: torch.Tensor) -> torch.Tensor:
    """-div(K grad u) at the interior nodes, (batch, n-2, n-2), for u given on all n x n nodes."""
    n = u.shape[-1]
    h2 = (1.0 / (n - 1)) ** 2
    ax, _ = face_coefficients(k11)
    _, ay = face_coefficients(k22)
    cx = 0.5 * (k12[..., 1:, :] + k12[..., :-1, :])  # k12 on x faces (n-1, n)
    cy = 0.5 * (k12[..., :, 1:] + k12[..., :, :-1])  # and on y faces (n, n-1)
    # h^2 times the fluxes through the faces of interior rows / columns
    dy = 0.25 * (u[..., 1:, 2:] + u[..., :-1, 2:] - u[..., 1:, :-2] - u[..., :-1, :-2])  # h du/dy on x faces (n-1, n-2)
    dx = 0.25 * (u[..., 2:, 1:] + u[..., 2:, :-1] - u[..., :-2, 1:] - u[..., :-2, :-1])  # h du/dx on y faces (n-2, n-1)
    flux_x = ax[..., :, 1:-1] * (u[..., 1:, 1:-1] - u[..., :-1, 1:-1]) + cx[..., :, 1:-1] * dy
    flux_y = ay[..., 1:-1, :] * (u[..., 1:-1, 1:] - u[..., 1:-1, :-1]) + cy[..., 1:-1, :] * dx
    return -((flux_x[..., 1:, :] - flux_x[..., :-1, :]) + (flux_y[..., :, 1:] - flux_y[..., :, :-1])) / h2


def assemble_tensor(k11: np.ndarray, k12: np.ndarray, k22: np.ndarray) -> sp.csc_matrix:
    """The sparse matrix of the interior unknowns (row-major over (i, j)) for one K (n, n each),
    read off the matrix-free operator by 9 probes (one per residue of (i, j) mod 3: the stencil's
    9 points never share a probe)."""
    n = k11.shape[0]
    m = n - 2
    coeffs = [torch.from_numpy(np.ascontiguousarray(k, dtype=np.float64)) for k in (k11, k12, k22)]
    idx = np.arange(m * m).reshape(m, m)
    rows, cols, vals = [], [], []
    for p in range(3):
        for q in range(3):
            probe = torch.zeros(n, n, dtype=torch.float64)
            probe[1 + p : n - 1 : 3, 1 + q : n - 1 : 3] = 1.0
            column = apply_tensor_operator(probe, *coeffs).numpy()  # (m, m): entries of the probed columns
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    # rows (i, j) whose neighbour (i + di, j + dj) is a probed unknown
                    ii, jj = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
                    ti, tj = ii + di, jj + dj
                    hit = (ti >= 0) & (ti < m) & (tj >= 0) & (tj < m) & (ti % 3 == p) & (tj % 3 == q)
                    rows.append(idx[ii[hit], jj[hit]])
                    cols.append(idx[ti[hit], tj[hit]])
                    vals.append(column[ii[hit], jj[hit]])
    matrix = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * m, m * m))
    matrix.eliminate_zeros()
    return matrix.tocsc()


def solve_tensor_direct(k11: torch.Tensor, k12: torch.Tensor, k22: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Sparse LU solve of -div(K grad u) = f, u = 0 on the boundary, one sample at a time on the
    CPU: k11, k12, k22, f (batch, n, n) -> u (batch, n, n)."""
    n = f.shape[-1]
    out = torch.zeros(f.shape, dtype=torch.float64)
    arrays = [t.detach().cpu().to(torch.float64).numpy() for t in (k11, k12, k22, f)]
    for b in range(f.shape[0]):
        matrix = assemble_tensor(arrays[0][b], arrays[1][b], arrays[2][b])
        u = spla.splu(matrix).solve(arrays[3][b, 1:-1, 1:-1].ravel())
        out[b, 1:-1, 1:-1] = torch.from_numpy(u.reshape(n - 2, n - 2))
    return out.to(f.device)
