"""Whether an approved example is locked against withdrawal, decided by the apps above.

Datasets sits above annotations (it reads examples); an example in an approved or
published release is locked. It registers its check at start-up (datasets.apps), so
annotations asks without importing datasets and the import layers stay one-way.
"""

from __future__ import annotations

from collections.abc import Callable

_checks: list[Callable[[object], bool]] = []


def register(check: Callable[[object], bool]) -> None:
    if check not in _checks:
        _checks.append(check)


def example_is_locked(example) -> bool:
    return any(check(example) for check in _checks)
