"""Physics-informed learning: geometries, conditions, networks, the PINN trainer, reference solutions."""

from pdekit.pinn.core import PINN, Dirichlet, Initial, Neumann, Observation, Periodic, Robin
from pdekit.pinn.geometry import Box, Difference, Disk, Interval, Polygon, Rectangle, SpaceTime, TimeInterval, Union
from pdekit.pinn.networks import MLP, SIREN, FourierFeatureMLP, build_network
from pdekit.pinn.operators import divergence, grad, laplacian, partial, time_derivative
from pdekit.pinn.reference import burgers_cole_hopf
from pdekit.pinn.trainer import PinnTrainConfig, train_pinn

__all__ = ["PINN", "Dirichlet", "Initial", "Neumann", "Observation", "Periodic", "Robin", "Box", "Difference",
           "Disk", "Interval", "Polygon", "Rectangle", "SpaceTime", "TimeInterval", "Union", "MLP", "SIREN",
           "FourierFeatureMLP", "build_network", "divergence", "grad", "laplacian", "partial", "time_derivative",
           "burgers_cole_hopf", "PinnTrainConfig", "train_pinn"]
