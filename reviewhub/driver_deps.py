"""Keep the neo4j driver from loading pandas and pyarrow in every process.

neo4j 6 imports numpy, pandas and pyarrow at import time whenever they are installed
(`neo4j._optional_deps`), for `Result.to_df()` and Arrow vectors, which ReviewHub never uses.
They are installed for the Hugging Face export (datasets/hf.py imports pyarrow itself, when
it writes Parquet), and through the driver they cost every process that touches the graph
~70 MB and ~1 s of start-up: the web, the worker, beat and the supervisor.

`install()` puts the module in place first, with numpy (parameters may be numpy values)
and without the two data-frame libraries. It must run before anything imports neo4j, so
`reviewhub/__init__.py` calls it: every Django process imports that package first.
"""

from __future__ import annotations

import sys
import types

NAME = "neo4j._optional_deps"


def install() -> None:
    if NAME in sys.modules:
        return
    module = types.ModuleType(NAME, "neo4j's optional dependencies, data frames left out")
    module.pd, module.pa = None, None
    module.__all__ = ["np", "pa", "pd"]
    module.__getattr__ = _numpy  # numpy only when neo4j itself is imported
    sys.modules[NAME] = module


def _numpy(name: str):
    if name != "np":
        raise AttributeError(name)
    import numpy

    return numpy
