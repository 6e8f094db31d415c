"""Datasets: the HDF5 schema, reproducible generation with resume, readers, operator pairs and
normalizers."""

from pdekit.data.dataset import Normalizer, Split, load_pairs
from pdekit.data.generate import generate
from pdekit.data.storage import dataset_identity, read_meta

__all__ = ["generate", "dataset_identity", "read_meta", "load_pairs", "Split", "Normalizer"]
