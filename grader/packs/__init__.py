"""The assignment packs that ship with the grader, each registered under ``conv1d_grader.packs`` in
``pyproject.toml`` like any course's own (see :mod:`grader.pack`). Nothing outside a pack imports it."""
