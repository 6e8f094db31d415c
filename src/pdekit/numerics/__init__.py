"""Shared numerical kernels: spectral derivatives, random fields, time integrators, sparse solves."""
