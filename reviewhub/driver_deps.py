"""Keep the neo4j driver from loading pandas and pyarrow in every process.

neo4j 6 imports numpy, pandas and pyarrow at import time whenever they are installed
(`neo4j._optional_deps`), for `Result.to_df()` and Arrow vectors, which ReviewHub never uses.
They are installed for the Hugging Face export (datasets/hf.py imports pyarrow itself, when
it writes Parquet), and through the driver they cost every process that touches the graph
~70 MB and ~1 s of start-up: the web, the worker, beat and the supervisor.

`install()` puts the module in place first, without the two data-frame libraries and
without numpy (another ~16 MB, e.g. in the web process, which has no other use for it):
everything the projection writes is read from SQL, so parameters are plain Python values,
and a numpy value sent to the graph would fail loudly ("not supported"), not silently. It
must run before anything imports neo4j, so `reviewhub/__init__.py` calls it: every Django
process imports that package first.

It also slims two of the driver's modules as they are imported (`_Slim`): neo4j.time builds
dicts of every year's leap flag and length and every (year, month)'s length for years
1-9999 (~140,000 entries, ~13 MB), and packstream v1 tables of every 16-bit value packed
and unpacked (~10 MB; the Rust extension packs and unpacks, and the unpacked table has no
reader). Those are replaced by lookups that compute the same values (the functions the
tables were built from) when asked: ~22 MB less in each process that loads the driver
(the worker for the graph drain; the web for /healthz and the graph pages).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import struct
import sys
import types

NAME = "neo4j._optional_deps"


class _Computed(dict):
    """Stands in for a precomputed dict or list: filled as keys are asked for, with
    `compute(key)` for a key `valid` accepts (a dict lookup from then on, as fast as the
    full table); KeyError (IndexError for a sequence) for any other key, as before."""

    def __init__(self, compute, valid, *, sequence: bool = False):
        super().__init__()
        self._compute, self._valid, self._sequence = compute, valid, sequence

    def __missing__(self, key):
        if not self._valid(key):
            raise (IndexError if self._sequence else KeyError)(key)
        value = self[key] = self._compute(key)
        return value


def _slim_time(module) -> None:
    low, high = module.MIN_YEAR, module.MAX_YEAR

    def year(y) -> bool:
        return isinstance(y, int) and low <= y <= high

    def year_month(key) -> bool:
        return isinstance(key, tuple) and len(key) == 2 and year(key[0]) and key[1] in range(1, 13)

    module._IS_LEAP_YEAR = _Computed(module._is_leap_year, year)
    module._DAYS_IN_YEAR = _Computed(module._days_in_year, year)
    module._DAYS_IN_MONTH = _Computed(lambda key: module._days_in_month(*key), year_month)


def _slim_packstream(module) -> None:
    pack16, unpack16 = struct.Struct(">H").pack, struct.Struct(">H").unpack
    module.PACKED_UINT_16 = _Computed(
        pack16, lambda v: isinstance(v, int) and 0 <= v < 0x10000, sequence=True
    )
    module.UNPACKED_UINT_16 = _Computed(
        lambda b: unpack16(b)[0], lambda b: isinstance(b, bytes) and len(b) == 2
    )


SLIM = {"neo4j.time": _slim_time, "neo4j._codec.packstream.v1": _slim_packstream}


class _Slim(importlib.abc.MetaPathFinder):
    """Finds the SLIM modules as the path finder would, and runs their slimming right after
    each module's own code."""

    def find_spec(self, name, path, target=None):
        slim = SLIM.get(name)
        if slim is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return spec
        loader, run = spec.loader, spec.loader.exec_module

        def exec_module(module) -> None:
            run(module)
            slim(module)

        loader.exec_module = exec_module  # this spec's own loader instance
        return spec


def install() -> None:
    if NAME in sys.modules:
        return
    if not any(isinstance(f, _Slim) for f in sys.meta_path):
        sys.meta_path.insert(0, _Slim())
    module = types.ModuleType(NAME, "neo4j's optional dependencies, all left out")
    module.np, module.pd, module.pa = None, None, None
    module.__all__ = ["np", "pa", "pd"]
    sys.modules[NAME] = module
