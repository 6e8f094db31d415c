"""Darcy flow with a tensor coefficient, -div(K grad u) = f on the unit square, u = 0 on the
boundary: the class of problems a change of coordinates keeps (general-covariance augmentation).
"""

from __future__ import annotations

import numpy as np
import torch

from pdekit.errors import ConfigError
from pdekit.numerics import elliptic
from pdekit.problems.base import register
from pdekit.problems.darcy import Darcy2D


@register
class DarcyTensor2D(Darcy2D):
    """-div(K grad u) = f on [0, 1]^2 with u = 0 on the boundary; inputs the symmetric positive
    definite K (k11, k12, k22) and f at the nodes. Samples are darcy_2d's: K = a I with a its
    thresholded or log-normal random field, f constant, so that a model trained here reads
    darcy_2d's inputs as (a, 0, a, f); what the tensor form adds is that any smooth change of
    coordinates of the square maps a problem of the class to another one of it, with the
    solution u composed with the map (``"covariance"``, data/symmetry.py). Solved by the scalar
    finite volumes plus central cross fluxes (a 9-point stencil, second order for smooth K, equal
    to darcy_2d's scheme when K = a I) and a sparse LU solve on the CPU; stores the inputs and u on
    the node grid (x, y)."""

    name = "darcy_tensor_2d"
    summary = ("-div(K grad u) = f on [0, 1]^2, u = 0 on the boundary; tensor K (samples K = a I, darcy_2d's a); "
               "9-point finite volumes + sparse LU")
    solver_device = "cpu"  # SciPy's sparse LU, whatever the device
    inputs = ("k11", "k12", "k22", "f")
    # a coordinate change of the square fixing its boundary: K -> |J| J^-1 K(phi) J^-T, f -> |J| f(phi), u -> u(phi)
    symmetries = ("covariance",)

    def check(self) -> None:
        """Refuse the CG solver: the cross fluxes make the matrix non-symmetric."""
        if self.config.solver == "cg":
            raise ConfigError("darcy_tensor_2d solves by sparse LU on the CPU (its matrix is not symmetric): "
                              "set solver=auto or direct")

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        a = super().sample_inputs(rng)["a"]
        return {"k11": a, "k12": np.zeros_like(a), "k22": a.copy(), "f": np.full_like(a, self.config.f)}

    def solve(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        k11, k12, k22, f = (inputs[name].to(torch.float64) for name in self.inputs)
        if not bool(((k11 > 0) & (k11 * k22 - k12**2 > 0)).all()):  # else not elliptic: garbage
            raise ConfigError("darcy_tensor_2d: K must be positive definite everywhere (k11 > 0 and "
                              f"k11 k22 - k12^2 > 0), got a minimum k11 of {float(k11.min()):.3g} and of "
                              f"k11 k22 - k12^2 of {float((k11 * k22 - k12**2).min()):.3g}")
        return {"u": elliptic.solve_tensor_direct(k11, k12, k22, f)}

    def residual(self, fields, inputs):
        """-div(K grad u) - f at interior nodes and u on the boundary, with the solver's stencil."""
        u = fields["u"].to(torch.float64)
        k11, k12, k22, f = (inputs[name].to(torch.float64) for name in self.inputs)
        out = u.clone()
        out[..., 1:-1, 1:-1] = elliptic.apply_tensor_operator(u, k11, k12, k22) - f[..., 1:-1, 1:-1]
        return out
