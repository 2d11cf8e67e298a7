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


def test_the_graph_drivers_calendar_is_unchanged_by_its_slimmed_tables():
    """driver_deps replaces neo4j's import-time calendar and packing tables (~19 MB a
    process) by lookups computed on demand: dates sent to and read from the graph must
    come out as before."""
    import calendar
    import datetime as dt

    import neo4j.time as nt
    from neo4j._codec.packstream import v1

    from reviewhub import driver_deps

    assert isinstance(nt._DAYS_IN_MONTH, driver_deps._Computed)  # the hook ran
    for year in (1, 4, 100, 1900, 2000, 2023, 2024, 2100, 9999):
        assert nt.Date.is_leap_year(year) == calendar.isleap(year)
        assert nt.Date.days_in_year(year) == 365 + calendar.isleap(year)
        for month in range(1, 13):
            assert nt.Date.days_in_month(year, month) == calendar.monthrange(year, month)[1]
    assert nt.Date(2023, 1, 31) + nt.Duration(months=1) == nt.Date(2023, 2, 28)
    assert nt.Date(2024, 2, 29) + nt.Duration(years=1) == nt.Date(2025, 2, 28)
    moment = dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=dt.UTC)
    assert nt.DateTime.from_native(moment).to_native() == moment
    for bad in (0, 10000):
        try:
            nt.Date.days_in_year(bad)
        except ValueError:
            pass
        else:
            raise AssertionError(f"year {bad} accepted")
    assert [v1.PACKED_UINT_16[v] for v in (0, 258, 0xFFFF)] == [b"\0\0", b"\1\2", b"\xff\xff"]
    assert v1.UNPACKED_UINT_16[b"\1\2"] == 258
