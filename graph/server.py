"""The embedded graph: ArcadeDB's Bolt server from the arcadedb-embedded wheel.

It starts a JVM inside the process that runs it, so it always runs as its own
process, never inside the web, worker or test process: `manage.py graphserver`, or,
under `make run`, this file as a script (`python -P graph/server.py`), which imports
neither Django nor the apps: the process holds the JVM and little else.

The JVM is bounded for a laptop (settings GRAPH_HEAP, GRAPH_JVM_ARGS, GRAPH_PAGE_CACHE_MB;
the wheel's own default is a 4 GB heap and a page cache of a quarter of it).
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import shlex
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path


def _create_database(http_port: int, password: str, name: str) -> None:
    auth = base64.b64encode(f"root:{password}".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": f"Basic {auth}"}
    base = f"http://127.0.0.1:{http_port}/api/v1"
    try:
        with urllib.request.urlopen(
            urllib.request.Request(f"{base}/exists/{name}", headers=headers), timeout=10
        ) as resp:
            if json.load(resp).get("result") is True:
                return
    except urllib.error.HTTPError:
        pass
    body = json.dumps({"command": f"create database {name}"}).encode()
    urllib.request.urlopen(
        urllib.request.Request(f"{base}/server", data=body, headers=headers), timeout=30
    ).read()


def serve(
    *,
    data_dir: Path,
    bolt_port: int,
    http_port: int,
    password: str,
    database: str,
    heap: str,
    jvm_args: str = "",
    page_cache_mb: int = 0,
    ready=print,
) -> None:
    """Run the server until SIGTERM/SIGINT; create `database` on first start.
    `page_cache_mb` caps ArcadeDB's page cache (0: the engine's default, a quarter of
    the heap)."""
    from arcadedb_embedded.server import ArcadeDBServer

    data_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(data_dir)  # the JVM writes its logs to ./log
    flags = shlex.split(jvm_args)
    if page_cache_mb:  # read by the engine's global configuration when the JVM starts
        flags.append(f"-Darcadedb.maxPageRAM={page_cache_mb}")
    server = ArcadeDBServer(
        root_path=str(data_dir),
        root_password=password,
        config={
            "http_port": http_port,
            "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "bolt_port": bolt_port,
        },
        jvm_kwargs={"heap_size": heap, "jvm_args": flags},
    )
    server.start()
    _create_database(http_port, password, database)
    # JPype runs a full Python collection after every Java collection (its GC linkage,
    # native/common/jp_gc.cpp: PyGC_Collect from the reference-queue thread); PyGC_Collect
    # does nothing while Python's collector is disabled. This process runs no Python after
    # start-up, so nothing is left for that collector to find.
    gc.freeze()
    gc.disable()
    ready(f"graph server ready: bolt://127.0.0.1:{bolt_port}/{database}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    # The JVM crashes in interpreter teardown after stop(); leave without it.
    os._exit(0)


def main() -> None:
    """`python -P graph/server.py …`: what serve_all starts (the password comes in the
    GRAPH_PASSWORD environment variable, not on the command line)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--bolt-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--heap", required=True)
    parser.add_argument("--jvm-args", default="")
    parser.add_argument("--page-cache-mb", type=int, default=0)
    args = parser.parse_args()
    # The wheel imports numpy if it can (for vectors handed over from Python, which this
    # process never does): ~12 MB of the server's memory. Its absence is a case it handles.
    sys.modules.setdefault("numpy", None)
    serve(
        data_dir=args.data_dir.resolve(),
        bolt_port=args.bolt_port,
        http_port=args.http_port,
        password=os.environ["GRAPH_PASSWORD"],
        database=args.database,
        heap=args.heap,
        jvm_args=args.jvm_args,
        page_cache_mb=args.page_cache_mb,
        ready=lambda msg: print(msg, flush=True),
    )


if __name__ == "__main__":
    main()
