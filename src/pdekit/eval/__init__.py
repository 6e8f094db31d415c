"""Evaluation: metrics, resolution transfer, solver-versus-surrogate timing, reports."""
