"""The core's own version, which plugins state their compatibility against.

Read from the installed distribution's metadata (``setup.cfg``'s ``version``); a source
tree that is not installed falls back to :data:`FALLBACK`, kept equal to ``setup.cfg``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

FALLBACK = "0.1.0"

try:
    VERSION: str = version("fulian")
except PackageNotFoundError:  # running from a checkout that was never installed
    VERSION = FALLBACK

__all__ = ["VERSION"]
