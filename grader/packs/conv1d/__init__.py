"""Assignment 2 Part A: ``get_conv1d_output_size`` and a ``Conv1d`` layer with forward and backward.

The reference is the top-level :mod:`reference` package (never visible to a submission); the cases, the calls
that run them, the scoring, the likely-cause hints and the samples (``samples/``) are here.
"""

from grader.packs.conv1d.pack import PACK, Conv1dPack

__all__ = ["PACK", "Conv1dPack"]
