"""Giving memory back to the system after a large job in a long-lived worker."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def give_back() -> None:
    """Return the C heap's free pages to the system (glibc's malloc_trim).

    A job that allocates and frees a lot, such as a release build, leaves its freed memory
    with malloc, which keeps it for the process: after a 20,000-example build the worker's
    RSS stayed 19 MB higher (102 MB against 83 trimmed), through the graph sync that
    follows the build, when the stack's memory is at its peak. Takes a few milliseconds."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
