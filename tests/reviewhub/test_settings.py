"""A bad value in the environment stops start-up with a message naming the variable."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_check(*args, **env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "NEO4J_URL",
            "DEBUG",
            "SECRET_KEY",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    return subprocess.run(
        [sys.executable, "manage.py", *(args or ["check"])],
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
        ("SECURE_PROXY_SSL_HEADER", "https"),
        ("SECURE_HSTS_SECONDS", "a year"),
        ("SECURE_SSL_REDIRECT", "always"),
        ("SQLITE_PAGE_SIZE", "10000"),
    ],
)
def test_bad_value_stops_startup_naming_the_variable(name, value):
    result = run_check(**{name: value})
    assert result.returncode != 0
    assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_a_secret_key_is_generated_once_into_var_readable_by_its_owner_only(tmp_path):
    var = tmp_path / "var"
    first = run_check(REVIEWHUB_VAR_DIR=str(var))
    assert first.returncode == 0, first.stderr
    key_file = var / "secret_key"
    key = key_file.read_text().strip()
    assert len(key) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert run_check(REVIEWHUB_VAR_DIR=str(var)).returncode == 0
    assert key_file.read_text().strip() == key, "the same key on every start"


def test_var_folder_is_created_when_database_url_is_set(tmp_path):
    var = tmp_path / "missing" / "var"
    result = run_check(REVIEWHUB_VAR_DIR=str(var), DATABASE_URL=f"sqlite:///{tmp_path / 'db'}")
    assert result.returncode == 0, result.stderr
    assert var.is_dir(), "beat's schedule and the secret key live there"


def test_a_new_sqlite_database_gets_16_kb_pages_and_an_existing_one_keeps_its_own(tmp_path):
    import sqlite3

    new, old = tmp_path / "new.sqlite3", tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as made_before:  # a database from before: 4 KB pages, WAL
        made_before.execute("PRAGMA page_size=4096")
        made_before.execute("PRAGMA journal_mode=WAL")
        made_before.execute("CREATE TABLE kept (x)")
    for path in (new, old):
        result = run_check(
            "migrate",
            "--noinput",
            "-v0",
            REVIEWHUB_VAR_DIR=str(tmp_path / "var"),
            DATABASE_URL=f"sqlite:///{path}",
        )
        assert result.returncode == 0, result.stderr
    sizes = {}
    for path in (new, old):
        with sqlite3.connect(path) as db:
            sizes[path.stem] = db.execute("PRAGMA page_size").fetchone()[0]
            assert db.execute("SELECT count(*) FROM chat_turn").fetchone() == (0,)
    assert sizes == {"new": 16384, "old": 4096}


PRODUCTION = {
    "SECRET_KEY": "x7#kq2!m9vz@c4n8p0w^r5t1y6u3i$o*e(d)f-g_h=j+l0a2s4d6f8g0h2j4k6",
    "ALLOWED_HOSTS": "reviewhub.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    result = run_check(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        REVIEWHUB_VAR_DIR=str(tmp_path),
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_names_what_is_missing_without_them(tmp_path):
    result = run_check(
        "check", "--deploy", "--fail-level", "WARNING", REVIEWHUB_VAR_DIR=str(tmp_path)
    )
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


def test_seed_demo_refuses_a_configured_database_with_debug_off(tmp_path):
    env = {"REVIEWHUB_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db'}"}
    refused = run_check("seed_demo", **env)
    assert refused.returncode != 0
    assert "Refusing to load demo users" in refused.stderr and "DATABASE_URL" in refused.stderr
    skipped = run_check("seed_demo", "--unless-production", **env)
    assert skipped.returncode == 0 and "no demo data" in skipped.stdout
    assert not (tmp_path / "db").exists() or (tmp_path / "db").stat().st_size == 0


def test_defaults_start_without_any_variable():
    result = run_check()
    assert result.returncode == 0, result.stderr


def test_a_task_sent_on_the_embedded_broker_is_queued_without_a_warning(tmp_path):
    var = tmp_path / "var"
    send = "from reviewhub.celery import app; app.send_task('graph.tasks.drain_outbox')"
    result = run_check("shell", "-c", send, REVIEWHUB_VAR_DIR=str(var))
    assert result.returncode == 0, result.stderr
    assert len(list((var / "broker" / "queue").iterdir())) == 1, "the message is in the queue"
    assert "No hostname" not in result.stderr, result.stderr
