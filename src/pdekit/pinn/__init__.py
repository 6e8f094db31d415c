"""Physics-informed learning: geometries, conditions, differential operators, the PINN task of the
one Trainer, benchmarks with reference solutions. Networks are pdekit.models' pointwise models."""

from pdekit.models.pointwise import MLP, SIREN, FourierFeatureMLP
from pdekit.models.registry import build_network
from pdekit.pinn.benchmark import Benchmark, space_time_grid
from pdekit.pinn.core import PINN, Dirichlet, Initial, Neumann, Observation, Periodic, Robin, Transform
from pdekit.pinn.geometry import Box, Difference, Disk, Interval, Polygon, Rectangle, SpaceTime, TimeInterval, Union
from pdekit.pinn.operators import derivative, divergence, grad, laplacian, partial, time_derivative
from pdekit.pinn.reference import burgers_cole_hopf
from pdekit.pinn.task import PinnConfig, PinnTask

__all__ = ["PINN", "Dirichlet", "Initial", "Neumann", "Observation", "Periodic", "Robin", "Transform", "Box", "Difference",
           "Disk", "Interval", "Polygon", "Rectangle", "SpaceTime", "TimeInterval", "Union", "MLP", "SIREN",
           "FourierFeatureMLP", "build_network", "derivative", "divergence", "grad", "laplacian", "partial", "time_derivative",
           "burgers_cole_hopf", "Benchmark", "space_time_grid", "PinnConfig", "PinnTask"]
