"""Schemathesis fuzzes the real API (a live server on the test database: PostgreSQL in CI's
first run, SQLite in its second) from its own /api/v1/openapi.json: every operation, with
data that fits the document and data that does not. Every response must be no 5xx and must
match the document (status code, content type, body schema). Bounded by examples per operation
so it stays well under two minutes; the figures are printed for the record."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
import schemathesis
from django.db import connection
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from chat import services

EXAMPLES = 40  # per operation, per mode (and again with a real stored id for {id} paths)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _fuzz(operation, mode, base_url, session, tally, **fixed) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: a failure here is reproducible
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode, **fixed))
    def run(case) -> None:
        response = case.call(base_url=base_url, session=session)
        tally["requests"] += 1
        tally["5xx"] += response.status_code >= 500
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # keep going, report them all at the end
            if response.status_code < 500:
                tally["violations"] += 1
            if len(tally["failures"]) < 10:
                body = case.body if not isinstance(case.body, bytes) else case.body[:200]
                tally["failures"].append(
                    f"{case.method} {case.formatted_path} {str(body)[:200]} -> "
                    f"{response.status_code} {response.text[:300]}\n  {str(exc)[:600]}"
                )

    run()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    seeded_db, live_server, expert, capsys
):
    token = services.api_token_create(user=expert, name="fuzz")[1]
    base_url = f"{live_server.url}/api/v1"
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    # One stored interaction, so {id} operations are also tried against a real record.
    stored = session.post(
        f"{base_url}/interactions",
        json={"question": "q?", "answer": "a", "model": "m"},
        timeout=30,
    ).json()["id"]
    tally = {"requests": 0, "5xx": 0, "violations": 0, "failures": []}
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, base_url, session, tally)
            if "{id}" in operation.path and mode is GenerationMode.POSITIVE:
                fixed = {"path_parameters": {"id": stored}}
                _fuzz(operation, mode, base_url, session, tally, **fixed)
    elapsed = time.monotonic() - started
    session.close()
    with capsys.disabled():
        print(
            f"\nschemathesis on {connection.vendor}: {len(operations)} operations "
            f"({', '.join(op.label for op in operations)}), "
            f"{tally['requests']} requests, {tally['5xx']} × 5xx, "
            f"{tally['violations']} schema violations, {elapsed:.0f} s"
        )
    assert tally["requests"] >= len(operations) * EXAMPLES
    assert (tally["5xx"], tally["violations"]) == (0, 0), "\n".join(tally["failures"])
    uuid.UUID(stored)
