"""Reusable layers: spectral convolutions (dense and factorized), activations, MLPs, grid embeddings."""

from pdekit.nn.layers import ACTIVATIONS, GridPadding, activation, constant_cache, conv_nd, grid_channels, mlp
from pdekit.nn.spectral import SpectralConv

__all__ = ["ACTIVATIONS", "GridPadding", "activation", "constant_cache", "conv_nd", "grid_channels", "mlp",
           "SpectralConv"]
