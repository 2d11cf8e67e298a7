"""A bad value in the environment stops start-up with a message naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_check(**env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "NEO4J_URL", "DEBUG", "SECRET_KEY"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://nope"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("NEO4J_URL", "ftp://graph"),
        ("DEBUG", "maybe"),
        ("CHAT_DAILY_QUESTION_LIMIT", "lots"),
        ("REVIEW_LEASE_MINUTES", "0"),
    ],
)
def test_bad_value_stops_startup_naming_the_variable(name, value):
    result = run_check(**{name: value})
    assert result.returncode != 0
    assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_secret_key_is_required_when_debug_is_off():
    result = run_check(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_defaults_start_without_any_variable():
    result = run_check()
    assert result.returncode == 0, result.stderr
