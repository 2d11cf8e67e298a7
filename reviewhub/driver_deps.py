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
"""

from __future__ import annotations

import sys
import types

NAME = "neo4j._optional_deps"


def install() -> None:
    if NAME in sys.modules:
        return
    module = types.ModuleType(NAME, "neo4j's optional dependencies, all left out")
    module.np, module.pd, module.pa = None, None, None
    module.__all__ = ["np", "pa", "pd"]
    sys.modules[NAME] = module
