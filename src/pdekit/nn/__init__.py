"""Reusable layers: spectral convolutions (dense and factorized), MLPs, grid embeddings."""

from pdekit.nn.layers import ACTIVATIONS, activation, channel_mlp, conv_nd, grid_channels
from pdekit.nn.spectral import SpectralConv

__all__ = ["ACTIVATIONS", "activation", "channel_mlp", "conv_nd", "grid_channels", "SpectralConv"]
