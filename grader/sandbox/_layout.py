"""What a sandbox may see of the filesystem: the policy, computed in the grader, executed by the zygote.

Only what Python and NumPy need is bound (read-only): the system library directories, the standard
library with its site-packages hidden, and NumPy's own package directories. Never the whole
site-packages (the ``grader`` and ``reference`` packages may be installed there), never the repository.
"""

from __future__ import annotations

import importlib.util
import os
import sysconfig
from pathlib import Path
from typing import Any

_SYSTEM_LIB_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom")
_PACKAGE_DIR_NAMES = ("site-packages", "dist-packages")


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).resolve().parent


def _is_under(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def numpy_site_dir() -> str:
    """The directory that holds the ``numpy`` package (appended to the zygote's ``sys.path``)."""
    numpy_dir = _package_dir("numpy")
    if numpy_dir is None:
        raise RuntimeError("numpy is not importable")
    return str(numpy_dir.parent)


def pyseccomp_file() -> str | None:
    """Where the pyseccomp binding is (one pure-Python file), for the zygote to load by path: it builds the
    seccomp filter with it once, and nothing else needs it. ``None`` if it is not installed (the zygote then
    falls back to its hand-assembled filter). Never bound into a sandbox: the layout binds NumPy's own
    directories only, and the site-packages holding pyseccomp is hidden."""
    spec = importlib.util.find_spec("pyseccomp")
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return str(Path(spec.origin).resolve())


def sandbox_layout() -> list[dict[str, Any]]:
    """Ordered mount steps (``bind``, ``link``, ``hide``, ``device``) for the sandbox's new root."""
    steps: list[dict[str, Any]] = []
    bound: list[Path] = []
    for name in _SYSTEM_LIB_DIRS:
        path = Path(name)
        if path.is_symlink():
            steps.append({"kind": "link", "path": name, "target": os.readlink(path)})
        elif path.is_dir():
            steps.append({"kind": "bind", "path": name})
            bound.append(path)
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    if not _is_under(stdlib, bound):
        steps.append({"kind": "bind", "path": str(stdlib)})
        bound.append(stdlib)

    secrets = [p for p in (_package_dir("grader"), _package_dir("reference")) if p is not None]
    hidden = {d for root in bound for d in _installed_package_dirs(root)}
    hidden.update(p for p in secrets if _is_under(p, bound))
    steps.extend({"kind": "hide", "path": str(p)} for p in sorted(hidden))

    numpy_dir = Path(numpy_site_dir()) / "numpy"
    for path in (numpy_dir, numpy_dir.with_name("numpy.libs")):
        if path.is_dir():
            steps.append({"kind": "bind", "path": str(path)})
    steps.extend({"kind": "device", "path": d} for d in _DEVICES)
    return steps


def _installed_package_dirs(root: Path) -> list[Path]:
    """site-/dist-packages directories up to three levels below ``root`` (``python3.11/site-packages``,
    ``python3/dist-packages``), symbolic links followed as ``glob`` would. One ``scandir`` per folder: this runs
    on every zygote start, and a glob of ``*/*/*`` under ``/usr/lib`` spends tens of milliseconds on names."""
    found = []
    level = [str(root)]
    for _ in range(3):
        below = []
        for folder in level:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                try:
                    if not entry.is_dir():
                        continue
                except OSError:
                    continue
                if entry.name in _PACKAGE_DIR_NAMES:
                    found.append(Path(entry.path))  # hidden whole: nothing below it needs looking at
                else:
                    below.append(entry.path)
        level = below
    return found
