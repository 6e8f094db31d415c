"""Reusable layers: spectral convolutions (dense and factorized), activations, MLPs, grid embeddings."""

from pdekit.nn.layers import ACTIVATIONS, activation, constant_cache, conv_nd, grid_channels, mlp, padding_of
from pdekit.nn.spectral import SpectralConv

__all__ = ["ACTIVATIONS", "activation", "constant_cache", "conv_nd", "grid_channels", "mlp", "padding_of", "SpectralConv"]
