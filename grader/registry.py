"""Finding assignment packs by name: entry points in the group ``conv1d_grader.packs``.

A pack is registered as ``name = "module:object"``, where the object is an
:class:`~grader.pack.AssignmentPack` instance (or a class to instantiate). The built-in packs are registered in
``pyproject.toml`` the same way, so a course's own pack, installed beside the grader, is found like them.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points

from grader.errors import ConfigError
from grader.pack import AssignmentPack

GROUP = "conv1d_grader.packs"


def _entry_points() -> tuple[EntryPoint, ...]:
    """The registered packs' entry points (a function of its own, for tests to replace)."""
    return tuple(entry_points(group=GROUP))


def available() -> tuple[str, ...]:
    """The names of the installed packs, sorted."""
    return tuple(sorted({ep.name for ep in _entry_points()}))


@cache
def _load(name: str, value: str) -> AssignmentPack:
    # Keyed by the entry point's target too: a test that registers another object under a name gets it.
    try:
        loaded = EntryPoint(name=name, value=value, group=GROUP).load()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"assignment pack {name!r} ({value}) cannot be loaded: {exc}") from exc
    pack = loaded() if isinstance(loaded, type) and issubclass(loaded, AssignmentPack) else loaded
    if not isinstance(pack, AssignmentPack):
        raise ConfigError(f"assignment pack {name!r} ({value}) is not an AssignmentPack but a {type(pack).__name__}")
    if pack.name != name:
        raise ConfigError(f"assignment pack registered as {name!r} ({value}) calls itself {pack.name!r}")
    return pack


def get_pack(name: str | None = None) -> AssignmentPack:
    """The pack registered under ``name``; with None, the only pack installed (an error when there are several:
    the config's ``assignment`` key or ``--assignment`` must then say which)."""
    found = {ep.name: ep.value for ep in _entry_points()}
    if name is None:
        if len(found) != 1:
            listed = ", ".join(sorted(found)) or "none"
            raise ConfigError(f"say which assignment to grade (`assignment` in the config, or --assignment): {listed}")
        name = next(iter(found))
    if name not in found:
        listed = ", ".join(sorted(found)) or "none"
        raise ConfigError(f"no assignment pack named {name!r} is installed (installed: {listed})")
    return _load(name, found[name])
