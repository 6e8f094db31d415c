"""Steady flow in the Schafer-Turek channel around a body: the cylinder benchmark and random obstacles.

Both solve incompressible Navier-Stokes by Taylor-Hood finite elements on a gmsh mesh
(numerics/channel_flow.py) and store u, v and p sampled on a node grid over the channel
[0, 2.2] x [0, 0.41], indexed [x, y]: ``resolution`` nodes across the channel and
5 (resolution - 1) + 1 along it (spacings within 7% of each other); zero inside the body. The inflow
is parabolic with mean velocity 0.2, so the Reynolds number 0.2 * 0.1 / nu is that of the
benchmark cylinder (diameter 0.1) whatever the body.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pdekit.config import param, require
from pdekit.errors import ConfigError, PdekitError
from pdekit.numerics.channel_flow import CHANNEL, ChannelFlow, Obstacle
from pdekit.problems.base import Problem, register

U_MAX = 0.3  # peak inflow: mean 0.2, the benchmark's 2D-1 flow
REFERENCE_LENGTH = 0.1  # the Reynolds number's length: the benchmark cylinder's diameter
SHAPES = ("circle", "ellipse", "rectangle", "triangle", "polygon")
_CODE = 8  # obstacle vector: kind, x, y, height, aspect, angle, then polygon radii


def viscosity(re: float) -> float:
    """nu for Reynolds number ``re`` = Ubar D / nu (Ubar = 0.2, D = 0.1)."""
    return 2 * U_MAX / 3 * REFERENCE_LENGTH / re


@dataclass(frozen=True)
class CylinderConfig:
    re: float = param(20.0, "Reynolds number Ubar D / nu (Ubar = 0.2, D = 0.1; 20 is the 2D-1 benchmark); "
                            "with re_max: the smallest of the samples'")
    re_max: float = param(0.0, "draw each sample's Reynolds number log-uniformly from [re, re_max] (0: re for all)")
    mesh_size: float = param(0.03, "mesh edge length away from the body; on it a sixth of that")
    tol: float = param(1e-10, "Newton stops when every discrete equation holds to this (max-norm)")

    def validate(self) -> None:
        """Check 0 < re and re_max <= 60 (steady flow), 0.002 <= mesh_size <= 0.1 and tol > 0."""
        require(0 < self.re <= 60 and self.re_max <= 60,
                f"re (and re_max) must lie in (0, 60], where the flow is steady; got {self.re:g}, {self.re_max:g}")
        require(0.002 <= self.mesh_size <= 0.1, f"mesh_size must lie in [0.002, 0.1], got {self.mesh_size:g}")
        require(self.tol > 0, f"tol must be positive, got {self.tol}")


class _ChannelProblem(Problem):
    """Shared grid and solve of the channel problems: one obstacle per sample."""

    Config = CylinderConfig
    ndim = 2
    time_dependent = False
    periodic = False
    fields = ("u", "v", "p")
    min_resolution = 5
    default_resolution = 33
    varying = {"re": "log"}
    solver_device = "cpu"  # scikit-fem and SciPy, whatever the device

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(nodes along the channel, nodes across it)."""
        return 5 * (self.resolution - 1) + 1, self.resolution

    def coords(self) -> dict[str, np.ndarray]:
        nx, ny = self.grid_shape
        return {"x": np.linspace(0.0, CHANNEL[0], nx), "y": np.linspace(0.0, CHANNEL[1], ny)}

    def mesh_grid(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.coords()
        return np.meshgrid(c["x"], c["y"], indexing="ij")

    def obstacle(self, inputs: dict[str, torch.Tensor], i: int) -> Obstacle:
        """The body of sample ``i`` of a batch of drawn inputs."""
        raise NotImplementedError

    def cheaper_settings(self) -> list[dict]:
        """The data's mesh, then meshes 1.5, 2.25, ... times coarser up to mesh_size 0.1, for the
        solver's speed-accuracy ladder (every one sampled on the stored grid)."""
        sizes, h = [], self.config.mesh_size
        while h <= 0.1 + 1e-12:
            sizes.append(round(h, 6))
            h *= 1.5
        return [{"mesh_size": h} for h in sizes]

    def solver(self, obstacle: Obstacle) -> ChannelFlow:
        h = self.config.mesh_size
        return ChannelFlow(obstacle, h / 6, h)

    def solve(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not inputs:
            raise PdekitError(f"{self.name}.solve needs its inputs (draw them with pdekit.data.generate.draw_inputs)")
        count = len(next(iter(inputs.values())))
        re = inputs["re"].tolist() if "re" in inputs else [self.config.re] * count
        x, y = self.mesh_grid()
        out = {name: [] for name in self.fields}
        for i in range(count):
            flow = self.solver(self.obstacle(inputs, i))
            state = flow.steady(viscosity(re[i]), U_MAX, self.config.tol)
            for name, values in zip(self.fields, flow.on_grid(state, x, y)):
                out[name].append(torch.from_numpy(values))
        device = next(iter(inputs.values())).device
        return {name: torch.stack(values).to(device) for name, values in out.items()}

    def iterative_tolerance(self, device: str) -> str:
        """``tol``, Newton's stopping tolerance: the solver ladder loosens it as it would a time step."""
        return "tol"

    def residual(self, fields, inputs=None):
        raise PdekitError(f"{self.name} lives on a finite-element mesh: no grid residual for a physics loss")


@register
class Cylinder2D(_ChannelProblem):
    """Steady flow past the Schafer-Turek cylinder (diameter 0.1 at (0.2, 0.2) in the 2.2 x 0.41
    channel, parabolic inflow of mean 0.2, do-nothing outflow) at Reynolds number re (each sample
    its own with re_max): Taylor-Hood finite elements on a gmsh mesh, Newton's method. u, v, p on
    a 5 (n - 1) + 1 by n node grid of the channel, zero inside the cylinder."""

    name = "cylinder_2d"
    summary = "steady flow past the Schafer-Turek cylinder at Reynolds number re; P2-P1 finite elements + Newton"

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The config's Reynolds number (replaced by the sample's own where re varies)."""
        return {"re": np.float64(self.config.re)}

    def obstacle(self, inputs, i):
        """The benchmark cylinder, whatever the sample."""
        return Obstacle.circle((0.2, 0.2), 0.05)

    def solver(self, obstacle):
        """One discretization (mesh and matrices) for every sample, made on first use."""
        if getattr(self, "_flow", None) is None:  # one mesh for every sample
            self._flow = super().solver(obstacle)
        return self._flow


@dataclass(frozen=True)
class ObstacleConfig(CylinderConfig):
    shapes: str = param("circle,ellipse,rectangle", "kinds of body drawn, comma-separated, each equally likely: "
                        + ", ".join(SHAPES))
    size: float = param(0.06, "smallest height (extent across the flow) of a body")
    size_max: float = param(0.14, "largest height of a body")

    def validate(self) -> None:
        """The cylinder's checks, known shapes, and 0.02 <= size <= size_max <= 0.2."""
        super().validate()
        kinds = [s.strip() for s in self.shapes.split(",") if s.strip()]
        require(kinds and all(k in SHAPES for k in kinds),
                f"shapes must be a comma-separated list of {', '.join(SHAPES)}; got '{self.shapes}'")
        require(0.02 <= self.size <= self.size_max <= 0.2,
                f"sizes must satisfy 0.02 <= size <= size_max <= 0.2, got {self.size:g}, {self.size_max:g}")


@register
class Obstacle2D(_ChannelProblem):
    """Steady flow in the Schafer-Turek channel around a random body (the DeepCFD setup): a circle,
    ellipse, rectangle, triangle or star-shaped polygon of random height in [size, size_max],
    aspect, rotation and position upstream; input the body's signed distance on the grid
    (negative inside), output u, v, p as for cylinder_2d. The mesh is made anew for every body."""

    name = "obstacle_2d"
    summary = "steady channel flow around a random body (DeepCFD setup): signed distance -> u, v, p; finite elements"
    Config = ObstacleConfig
    inputs = ("sdf",)

    def sample_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A body's code vector (kind, centre, height, aspect, angle, polygon radii) and its signed
        distance on the stored grid."""
        c = self.config
        kinds = [s.strip() for s in c.shapes.split(",") if s.strip()]
        code = np.zeros(_CODE + 8)
        code[0] = SHAPES.index(kinds[rng.integers(len(kinds))])
        code[1:6] = (rng.uniform(0.25, 0.4), rng.uniform(0.16, 0.25), rng.uniform(c.size, c.size_max),
                     rng.uniform(0.5, 1.0), rng.uniform(0, np.pi))
        code[_CODE:] = rng.uniform(0.6, 1.0, 8)
        x, y = self.mesh_grid()
        return {"sdf": self.body(code).signed_distance(x, y), "obstacle": code}

    @staticmethod
    def body(code: np.ndarray) -> Obstacle:
        """The obstacle a code vector describes (kind, centre, height, aspect, angle, radii)."""
        kind, cx, cy, height, aspect, angle = SHAPES[int(code[0])], *map(float, code[1:6])
        if kind == "circle":
            return Obstacle.circle((cx, cy), height / 2)
        if kind == "ellipse":
            s = np.linspace(0, 2 * np.pi, 48, endpoint=False)
            pts = np.stack([aspect * np.cos(s), np.sin(s)], 1)
        elif kind == "rectangle":
            pts = np.array([[-aspect, -1], [aspect, -1], [aspect, 1], [-aspect, 1]], dtype=np.float64)
        elif kind == "triangle":
            s = np.pi / 2 + 2 * np.pi * np.arange(3) / 3
            pts = np.stack([np.cos(s), np.sin(s)], 1)
        else:  # star-shaped polygon: 8 vertices at random radii
            s = 2 * np.pi * np.arange(8) / 8
            pts = code[_CODE:, None] * np.stack([np.cos(s), np.sin(s)], 1)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        pts = pts @ rot.T
        pts = pts * (height / np.ptp(pts[:, 1]))  # scaled to the drawn height across the flow
        return Obstacle.polygon(pts + [cx, cy])

    def obstacle(self, inputs, i):
        """The body the code vector of sample ``i`` describes."""
        if "obstacle" not in inputs:
            raise ConfigError("obstacle_2d.solve needs inputs['obstacle'], the bodies' code vectors from sample_inputs")
        return self.body(inputs["obstacle"][i].cpu().numpy())
