"""Runs untrusted submissions: a warm zygote forks one namespaced, unprivileged sandbox per submission.

See SECURITY.md for the threat model and what each layer does and does not stop.
"""

from grader.sandbox._runner import SandboxRunner
from grader.sandbox._zygote_client import SandboxStartError

__all__ = ["SandboxRunner", "SandboxStartError"]
