"""The embedded graph: ArcadeDB's Bolt server from the arcadedb-embedded wheel.

It starts a JVM inside the process that runs it, so it always runs as its own
process (`manage.py graphserver`), never inside the web, worker or test process.
"""

from __future__ import annotations

import base64
import json
import os
import signal
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
    *, data_dir: Path, bolt_port: int, http_port: int, password: str, database: str, ready=print
) -> None:
    """Run the server until SIGTERM/SIGINT; create `database` on first start."""
    from arcadedb_embedded.server import ArcadeDBServer

    data_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(data_dir)  # the JVM writes its logs to ./log
    server = ArcadeDBServer(
        root_path=str(data_dir),
        root_password=password,
        config={
            "http_port": http_port,
            "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "bolt_port": bolt_port,
        },
    )
    server.start()
    _create_database(http_port, password, database)
    ready(f"graph server ready: bolt://127.0.0.1:{bolt_port}/{database}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    # The JVM crashes in interpreter teardown after stop(); leave without it.
    os._exit(0)
