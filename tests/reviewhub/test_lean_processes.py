"""What the long-running processes of `make run` load at start-up (issue #17: the stack's
memory). Each heavy library left out here is tens of MB in every process that loads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

HEAVY = ["pandas", "pyarrow", "sklearn", "scipy", "numpy", "phonenumbers"]

WEB = """
import json, sys
import django
django.setup()
from django.urls import get_resolver
from reviewhub.wsgi import application
get_resolver().url_patterns  # every view module imported, as on the first request
import neo4j  # the graph driver, as the health check and the lineage pages load it
print(json.dumps(sorted(m for m in {HEAVY} if m in sys.modules)))
"""


def _loaded(code: str) -> list[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "reviewhub.settings", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code.replace("{HEAVY}", repr(HEAVY))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_web_process_loads_no_data_frame_or_machine_learning_library():
    assert _loaded(WEB) == []


def test_the_supervisor_and_the_graph_server_scripts_import_no_django():
    code = (
        "import json, runpy, sys\n"
        "sys.argv = ['x']\n"
        "for path in ('reviewhub/supervisor.py', 'graph/server.py'):\n"
        "    runpy.run_path(path, run_name='not_main')\n"
        "print(json.dumps(sorted(m for m in {HEAVY} + ['django', 'celery'] if m in sys.modules)))\n"
    )
    assert _loaded(code) == []
