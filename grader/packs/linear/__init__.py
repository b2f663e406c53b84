"""The course's ``Linear`` layer as an assignment pack: reference, cases, rubric, hints and samples.

Written only against :mod:`grader.pack`; registered as ``linear`` under ``conv1d_grader.packs``.
"""

from grader.packs.linear.pack import PACK, LinearPack

__all__ = ["PACK", "LinearPack"]
