"""Tries to read the reference solution, the repository, the grader's venv and another student's file.

TARGETS (prepended by the test): repo, other_student (path of a file holding a secret).
"""

import os


def attempt(what, action):
    try:
        result = action()
    except Exception as exc:
        print("BLOCKED", what, type(exc).__name__)
    else:
        print("GOT", what, repr(result)[:300])


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


class Conv1d:
    def __init__(self, *args):
        pass

    def forward(self, x):
        repo = TARGETS["repo"]  # noqa: F821  (prepended by the test)
        attempt("reference", lambda: read(os.path.join(repo, "reference", "conv1d.py")))
        attempt("repo listing", lambda: os.listdir(repo))
        attempt("grader package", lambda: read(os.path.join(repo, "grader", "runner.py")))
        attempt("other student", lambda: read(TARGETS["other_student"]))  # noqa: F821
        attempt("import reference", lambda: __import__("reference.conv1d").conv1d.conv1d_forward)
        attempt("import grader", lambda: __import__("grader.runner").runner.Limits)
        attempt("import torch", lambda: __import__("torch"))
        attempt("site-packages", lambda: os.listdir(os.path.join(os.path.dirname(os.__file__), "site-packages")))
        attempt("root listing", lambda: sorted(os.listdir("/")))
        attempt("/etc/passwd", lambda: read("/etc/passwd"))
        attempt("/root", lambda: os.listdir("/root"))
        attempt("write numpy", lambda: open(os.path.join(os.path.dirname(__import__("numpy").__file__), "x"), "w"))
        return x
