"""Runs untrusted submissions: a warm zygote forks one namespaced, unprivileged sandbox per submission.

See SECURITY.md for the threat model and what each layer does and does not stop. Importing this package is
cheap: the runner (and NumPy, pydantic) load on first use, so that a command can :func:`prestart` the zygote
before it imports anything heavy.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from grader.sandbox._zygote_client import SandboxStartError, Zygote

if TYPE_CHECKING:
    from grader.sandbox._runner import SandboxRunner

__all__ = ["SandboxRunner", "SandboxStartError", "default_runner", "prestart"]

_lock = threading.Lock()
_early_zygote: Zygote | None = None
_shared_runner: SandboxRunner | None = None


def prestart() -> None:
    """Launch the process-wide runner's zygote now: its interpreter start, NumPy import and warm-up then run
    beside the caller's own imports instead of after them."""
    global _early_zygote
    with _lock:
        if _early_zygote is None and _shared_runner is None:
            _early_zygote = Zygote()
        if _early_zygote is not None:
            _early_zygote.launch()


def default_runner() -> SandboxRunner:
    """The process-wide sandbox runner, made on first use and shared by every thread."""
    global _shared_runner, _early_zygote
    with _lock:
        if _shared_runner is None:
            from grader.sandbox._runner import SandboxRunner

            _shared_runner = SandboxRunner(_early_zygote)
            _early_zygote = None
        return _shared_runner


def __getattr__(name: str) -> Any:
    if name == "SandboxRunner":
        from grader.sandbox._runner import SandboxRunner

        return SandboxRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
