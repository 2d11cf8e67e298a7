"""Release reads. Issue #5 owns this module.

Contract used by other apps (keep the signature):
- example_is_locked(example) — True when the example is in an approved or published
  release, so its approval can no longer be withdrawn.
"""

from __future__ import annotations


def example_is_locked(example) -> bool:
    return False
