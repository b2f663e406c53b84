"""Shells over :func:`grader.grade` for the platforms that run autograders in their own containers:
Gradescope (:mod:`grader.platforms.gradescope`) and PrairieLearn (:mod:`grader.platforms.prairielearn`).

Each reads the platform's folder layout, grades through the same sandbox as every other shell, and writes the
platform's results file once, atomically.
"""
