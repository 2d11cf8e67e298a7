"""OTLP/HTTP traces at /v1/traces: real spans from the OpenTelemetry SDK, sent by its OTLP
exporter (or as the exporter's protobuf / OTLP-JSON bytes) to a live server."""

from __future__ import annotations

import gzip
import json

import pytest
import requests
from google.protobuf.json_format import MessageToDict
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from annotations.models import QueueItem
from chat import services
from chat.models import Conversation, Turn, TurnContext
from outbox.models import OutboxEntry

QUESTION = "How do I restore a snapshot?"
ANSWER = "Open the snapshot and choose Restore."
T0 = 1_795_000_000_000_000_000  # 2026-11-18T…Z in ns; spans get explicit times
MS = 1_000_000

pytestmark = pytest.mark.usefixtures("seeded_db")


@pytest.fixture
def token(end_user):
    return services.api_token_create(user=end_user, name="otel")[1]


@pytest.fixture
def record():
    """record(build) -> the finished SDK spans that build(tracer) produced."""

    def _record(build):
        memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        build(provider.get_tracer("support-bot"))
        provider.shutdown()
        return memory.get_finished_spans()

    return _record


def exporter(live_server, token, **kwargs) -> OTLPSpanExporter:
    return OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        **kwargs,
    )


def post(live_server, body: bytes, *, token=None, content_type="application/x-protobuf", **hdrs):
    headers = {"Content-Type": content_type, **hdrs}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(f"{live_server.url}/v1/traces", data=body, headers=headers, timeout=10)


def span(tracer, name, attributes, *, start_ms, duration_ms, events=(), error=None):
    s = tracer.start_span(name, attributes=attributes, start_time=T0 + start_ms * MS)
    for event_name, event_attributes in events:
        s.add_event(event_name, event_attributes)
    if error:
        s.set_status(Status(StatusCode.ERROR, error))
    s.end(end_time=T0 + (start_ms + duration_ms) * MS)


def openinference_rag(tracer, *, session="sess-1", question=QUESTION):
    """A RAG request as OpenInference instrumentors trace it: chain → retriever → LLM."""
    from opentelemetry import trace

    with tracer.start_as_current_span(
        "rag", attributes={"openinference.span.kind": "CHAIN", "session.id": session}
    ):
        span(
            tracer,
            "retrieve",
            {
                "openinference.span.kind": "RETRIEVER",
                "input.value": question,
                "retrieval.documents.0.document.id": "kb/backups.md",
                "retrieval.documents.0.document.content": "To restore, open the snapshot.",
                "retrieval.documents.0.document.score": 0.91,
                "retrieval.documents.1.document.id": "kb/plans.md",
                "retrieval.documents.1.document.content": "Snapshots are taken daily.",
                "retrieval.documents.1.document.score": 0.42,
                "retrieval.documents.1.document.metadata": json.dumps({"title": "Plans"}),
            },
            start_ms=0,
            duration_ms=30,
        )
        span(
            tracer,
            "ChatCompletion",
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.provider": "openai",
                "llm.invocation_parameters": json.dumps({"temperature": 0.2, "max_tokens": 300}),
                "llm.input_messages.0.message.role": "system",
                "llm.input_messages.0.message.content": "Answer from the context.",
                "llm.input_messages.1.message.role": "user",
                "llm.input_messages.1.message.content": question,
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": ANSWER,
                "llm.token_count.prompt": 120,
                "llm.token_count.completion": 14,
                "session.id": session,
                "user.id": "customer-42",
                "metadata": json.dumps({"app_version": "1.4"}),
            },
            start_ms=40,
            duration_ms=812,
        )
        assert trace.get_current_span().is_recording()


def gen_ai_chat(tracer):
    """GenAI semantic conventions: a retrieval span, then a chat span with the content
    attributes, a tool span, and a second chat call reported with per-message events."""
    with tracer.start_as_current_span(
        "invoke_agent support", attributes={"gen_ai.operation.name": "invoke_agent"}
    ):
        _gen_ai_children(tracer)


def _gen_ai_children(tracer):
    span(
        tracer,
        "retrieval kb",
        {
            "gen_ai.operation.name": "retrieval",
            "gen_ai.data_source.id": "kb",
            "gen_ai.retrieval.documents": json.dumps(
                [{"id": "kb/backups.md", "score": 0.77, "content": "Restore from the snapshot."}]
            ),
        },
        start_ms=0,
        duration_ms=10,
    )
    span(
        tracer,
        "chat gpt-4o",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.request.temperature": 0.3,
            "gen_ai.request.max_tokens": 200,
            "gen_ai.usage.input_tokens": 50,
            "gen_ai.usage.output_tokens": 9,
            "gen_ai.conversation.id": "conv-7",
            "user.id": "customer-7",
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": ANSWER}],
                        "finish_reason": "stop",
                    }
                ]
            ),
        },
        start_ms=20,
        duration_ms=450,
    )
    span(
        tracer,
        "execute_tool lookup",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
        start_ms=500,
        duration_ms=5,
    )
    span(
        tracer,
        "chat gpt-4o-mini",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.conversation.id": "conv-7",
        },
        start_ms=600,
        duration_ms=300,
        events=[
            ("gen_ai.system.message", {"content": "Be brief."}),
            ("gen_ai.user.message", {"content": "And how long does it take?"}),
            (
                "gen_ai.choice",
                {"index": 0, "message": json.dumps({"content": "About a minute."})},
            ),
        ],
    )


def to_otlp_json(spans) -> bytes:
    """What an OTLP/JSON exporter sends: the protobuf JSON mapping with hex ids."""
    data = MessageToDict(encode_spans(spans))
    for resource_spans in data["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for s in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = __import__("base64").b64decode(s[key]).hex()
                s["kind"] = 1
    return json.dumps(data).encode()


# --- mapping ---------------------------------------------------------------------------------


def test_openinference_spans_become_a_turn_with_its_scored_passages(
    live_server, token, end_user, record
):
    spans = record(openinference_rag)
    result = exporter(live_server, token, compression=Compression.Gzip).export(spans)
    assert result == SpanExportResult.SUCCESS
    turn = Turn.objects.get()
    assert (turn.question, turn.answer, turn.model) == (QUESTION, ANSWER, "gpt-4o-mini")
    assert turn.user == end_user and turn.source == "api" and turn.status == "ok"
    assert turn.system_prompt == "Answer from the context."
    assert turn.prompt_messages == [
        {"role": "system", "content": "Answer from the context."},
        {"role": "user", "content": QUESTION},
    ]
    assert turn.params == {"temperature": 0.2, "max_tokens": 300}
    assert (turn.prompt_tokens, turn.completion_tokens, turn.latency_ms) == (120, 14, 812)
    assert turn.created_at.timestamp() == pytest.approx((T0 + 40 * MS) / 1e9)
    assert turn.external_user == "customer-42" and turn.metadata["app_version"] == "1.4"
    assert turn.metadata["otel"]["service"] == "support-bot"
    assert turn.metadata["otel"]["provider"] == "openai"
    assert turn.grounded and turn.max_context_score == 0.91
    contexts = [(c.rank, c.text, c.score, c.source, c.title) for c in turn.contexts.all()]
    assert contexts == [
        (1, "To restore, open the snapshot.", 0.91, "kb/backups.md", ""),
        (2, "Snapshots are taken daily.", 0.42, "kb/plans.md", "Plans"),
    ]
    assert turn.conversation.external_id == "sess-1" and turn.conversation.user == end_user
    # logged like API traffic: queued for review and on its way to the graph
    assert QueueItem.objects.filter(turn=turn, state="pending").exists()
    assert OutboxEntry.objects.filter(entity="turn", entity_id=str(turn.id)).exists()


def test_gen_ai_convention_spans_become_turns_in_one_conversation(
    live_server, token, end_user, record
):
    spans = record(gen_ai_chat)
    assert exporter(live_server, token).export(spans) == SpanExportResult.SUCCESS
    first, second = Turn.objects.order_by("position")
    assert first.conversation_id == second.conversation_id
    assert first.conversation.external_id == "conv-7" and first.external_user == "customer-7"
    assert (first.question, first.answer, first.model) == (QUESTION, ANSWER, "gpt-4o-2024-08-06")
    assert first.system_prompt == "Be brief."
    assert first.prompt_messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": QUESTION},
    ]
    assert first.params == {"temperature": 0.3, "max_tokens": 200}
    assert (first.prompt_tokens, first.completion_tokens, first.latency_ms) == (50, 9, 450)
    assert [(c.text, c.score) for c in first.contexts.all()] == [
        ("Restore from the snapshot.", 0.77)
    ]
    assert (second.question, second.answer) == ("And how long does it take?", "About a minute.")
    assert second.model == "gpt-4o-mini" and second.system_prompt == "Be brief."
    assert not second.contexts.exists() and not second.grounded
    assert second.metadata["otel"]["convention"] == "gen_ai"


def test_otlp_json_is_stored_like_protobuf(live_server, token, record):
    spans = record(openinference_rag)
    response = post(live_server, to_otlp_json(spans), token=token, content_type="application/json")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    partial = response.json()["partialSuccess"]  # the CHAIN span is reported as ignored
    assert partial["rejectedSpans"] == "0" and "1 spans ignored" in partial["errorMessage"]
    turn = Turn.objects.get()
    assert turn.question == QUESTION and turn.contexts.count() == 2 and turn.latency_ms == 812


def test_hand_written_otlp_json_with_string_integers_is_accepted(live_server, token):
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "js-app"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "manual"},
                        "spans": [
                            {
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "EEE19B7EC3C1B174",
                                "name": "chat",
                                "kind": 3,
                                "startTimeUnixNano": "1795000000000000000",
                                "endTimeUnixNano": "1795000001500000000",
                                "attributes": [
                                    {
                                        "key": "gen_ai.operation.name",
                                        "value": {"stringValue": "chat"},
                                    },
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "m1"}},
                                    {
                                        "key": "gen_ai.usage.input_tokens",
                                        "value": {"intValue": "33"},
                                    },
                                    {
                                        "key": "gen_ai.input.messages",
                                        "value": {
                                            "stringValue": json.dumps(
                                                [
                                                    {
                                                        "role": "user",
                                                        "parts": [
                                                            {"type": "text", "content": "Hi?"}
                                                        ],
                                                    }
                                                ]
                                            )
                                        },
                                    },
                                ],
                                "status": {},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    response = post(
        live_server, json.dumps(body).encode(), token=token, content_type="application/json"
    )
    assert response.status_code == 200 and response.json() == {}
    turn = Turn.objects.get()
    assert (turn.question, turn.answer, turn.model, turn.prompt_tokens) == ("Hi?", "", "m1", 33)
    assert turn.latency_ms == 1500 and turn.metadata["otel"]["service"] == "js-app"
    assert turn.metadata["otel"]["trace_id"] == "5b8efff798038103d269b633813fc60c"
    # no session id: the trace is the conversation
    assert turn.conversation.external_id == "trace-5b8efff798038103d269b633813fc60c"


def test_a_reranker_decides_the_passages_and_turns_keep_the_order_they_ran(
    live_server, token, record
):
    def reranked(tracer):
        for start, question in ((5_000, "Second question?"), (0, QUESTION)):
            with tracer.start_as_current_span("rag", start_time=T0 + start * MS):
                span(
                    tracer,
                    "retrieve",
                    {
                        "openinference.span.kind": "RETRIEVER",
                        "retrieval.documents.0.document.content": "A weak passage.",
                        "retrieval.documents.0.document.score": 0.3,
                        "retrieval.documents.1.document.content": "The right passage.",
                        "retrieval.documents.1.document.score": 0.2,
                    },
                    start_ms=start,
                    duration_ms=10,
                )
                span(
                    tracer,
                    "rerank",
                    {
                        "openinference.span.kind": "RERANKER",
                        "reranker.output_documents.0.document.content": "The right passage.",
                        "reranker.output_documents.0.document.score": 0.97,
                    },
                    start_ms=start + 20,
                    duration_ms=10,
                )
                span(
                    tracer,
                    "llm",
                    {
                        "openinference.span.kind": "LLM",
                        "llm.input_messages.0.message.role": "user",
                        "llm.input_messages.0.message.content": question,
                        "session.id": "sess-r",
                    },
                    start_ms=start + 40,
                    duration_ms=10,
                )

    assert exporter(live_server, token).export(record(reranked)) == SpanExportResult.SUCCESS
    turns = list(Turn.objects.order_by("position"))
    assert [t.question for t in turns] == [QUESTION, "Second question?"]
    assert [t.position for t in turns] == [0, 1]
    for turn in turns:
        assert [(c.text, c.score) for c in turn.contexts.all()] == [("The right passage.", 0.97)]


def test_an_openinference_completions_span_uses_its_prompt_and_choice(live_server, token, record):
    def completion(tracer):
        attributes = {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-3.5-turbo-instruct",
            "llm.prompts.0.prompt.text": "Once upon a time",
            "llm.choices.0.completion.text": "there was a dragon.",
        }
        span(tracer, "Completion", attributes, start_ms=0, duration_ms=100)

    assert exporter(live_server, token).export(record(completion)) == SpanExportResult.SUCCESS
    turn = Turn.objects.get()
    assert (turn.question, turn.answer) == ("Once upon a time", "there was a dragon.")


def test_a_failed_llm_call_is_logged_as_an_error_and_not_queued(live_server, token, record):
    def failing(tracer):
        span(
            tracer,
            "chat",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.input.messages": json.dumps([{"role": "user", "content": QUESTION}]),
            },
            start_ms=0,
            duration_ms=30_000,
            error="Request timed out.",
        )

    assert exporter(live_server, token).export(record(failing)) == SpanExportResult.SUCCESS
    turn = Turn.objects.get()
    assert turn.status == "error" and turn.error == "Request timed out." and turn.answer == ""
    assert not QueueItem.objects.filter(turn=turn).exists()


# --- idempotence and partial success ------------------------------------------------------


def test_sending_the_same_spans_again_stores_nothing_new(live_server, token, record):
    spans = record(openinference_rag)
    send = exporter(live_server, token)
    assert send.export(spans) == SpanExportResult.SUCCESS
    assert send.export(spans) == SpanExportResult.SUCCESS
    assert post(live_server, to_otlp_json(spans), token=token, content_type="application/json").ok
    assert Turn.objects.count() == 1 and TurnContext.objects.count() == 2
    assert Conversation.objects.count() == 1 and QueueItem.objects.count() == 1


def test_the_same_span_ids_from_two_accounts_are_two_turns(live_server, token, other_user, record):
    spans = record(openinference_rag)
    other_token = services.api_token_create(user=other_user, name="otel")[1]
    assert exporter(live_server, token).export(spans) == SpanExportResult.SUCCESS
    assert exporter(live_server, other_token).export(spans) == SpanExportResult.SUCCESS
    assert sorted(Turn.objects.values_list("user__username", flat=True)) == ["alice", "mallory"]


def test_spans_that_are_not_llm_spans_are_counted_and_ignored(live_server, token, record):
    def mixed(tracer):
        gen_ai_chat(tracer)
        span(tracer, "GET /orders", {"http.request.method": "GET"}, start_ms=0, duration_ms=5)
        span(
            tracer,
            "chat",  # an LLM span without its messages (content capture off)
            {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
            start_ms=950,
            duration_ms=5,
        )

    response = post(live_server, encode_spans(record(mixed)).SerializeToString(), token=token)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-protobuf"
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    message = partial.error_message
    assert "2 LLM spans logged as turns" in message and "1 retriever spans used" in message
    ignored = "(1 gen_ai execute_tool, 1 gen_ai invoke_agent, 1 unlabelled)"
    assert f"3 spans ignored, not LLM spans {ignored}" in message
    assert "without input messages" in message and "CAPTURE_MESSAGE_CONTENT" in message
    assert Turn.objects.count() == 2


# --- bad requests -----------------------------------------------------------------------------


def test_malformed_requests_are_400_and_store_nothing(live_server, token, record):
    good = encode_spans(record(openinference_rag)).SerializeToString()
    cases = [
        (b"\xff\xff\xff not protobuf", "application/x-protobuf", {}),
        (good[: len(good) // 2], "application/x-protobuf", {}),
        (b"{not json", "application/json", {}),
        (b'{"resourceSpans": {"oops": 1}}', "application/json", {}),
        (
            to_otlp_json(record(openinference_rag)).replace(b'"traceId": "', b'"traceId": "zz'),
            "application/json",
            {},
        ),
        (b"not gzip at all", "application/x-protobuf", {"Content-Encoding": "gzip"}),
        (gzip.compress(good)[:-12], "application/x-protobuf", {"Content-Encoding": "gzip"}),
        (good, "application/x-protobuf", {"Content-Encoding": "br"}),
    ]
    for body, content_type, headers in cases:
        response = post(live_server, body, token=token, content_type=content_type, **headers)
        assert response.status_code == 400, (body[:40], response.content)
        if content_type == "application/json":
            assert response.json()["message"]
        else:
            assert status_pb2.Status.FromString(response.content).message
    # an unsupported media type and an oversize body get their own HTTP codes (also not retried)
    assert requests.get(f"{live_server.url}/v1/traces", timeout=10).status_code == 405
    response = post(live_server, good, token=token, content_type="text/plain")
    assert response.status_code == 415
    assert "application/x-protobuf" in status_pb2.Status.FromString(response.content).message
    response = post(live_server, b"\0" * (8 * 1024 * 1024 + 1), token=token)
    assert response.status_code == 413
    assert Turn.objects.count() == 0 and Conversation.objects.count() == 0


def test_a_missing_or_wrong_token_is_401_and_the_exporter_reports_failure(
    live_server, token, record
):
    spans = record(openinference_rag)
    assert exporter(live_server, "rh_wrong").export(spans) == SpanExportResult.FAILURE
    body = encode_spans(spans).SerializeToString()
    response = post(live_server, body)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Bearer" in status_pb2.Status.FromString(response.content).message
    assert (
        post(live_server, body, token="rh_wrong", content_type="application/json").json()["code"]
        == 16
    )
    assert Turn.objects.count() == 0


def test_nul_characters_and_nan_parameters_are_cleaned_not_a_server_error(
    live_server, token, record
):
    def odd(tracer):
        span(
            tracer,
            "chat",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.request.temperature": float("nan"),
                "gen_ai.input.messages": json.dumps([{"role": "user", "content": "a\u0000b?"}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": "ok"}]),
            },
            start_ms=0,
            duration_ms=5,
        )

    assert exporter(live_server, token).export(record(odd)) == SpanExportResult.SUCCESS
    turn = Turn.objects.get()
    assert turn.question == "ab?" and turn.prompt_messages[0]["content"] == "ab?"
    assert turn.params == {"temperature": None}


def test_the_tokens_page_shows_the_otlp_endpoint(client_for, end_user):
    from django.urls import reverse

    page = client_for(end_user).get(reverse("chat:tokens")).content.decode()
    assert "http://testserver/v1/traces" in page


@pytest.mark.usefixtures("graph")
def test_an_exported_trace_reaches_the_graph_with_its_scored_passages(
    live_server, token, record, celery_worker
):
    from neomodel import db

    from tests.conftest import wait_until

    assert exporter(live_server, token).export(record(openinference_rag)) == (
        SpanExportResult.SUCCESS
    )
    turn = Turn.objects.get()

    def lineage():
        rows, _ = db.cypher_query(
            "MATCH (:Message {uid: $q})-[:NEXT]->(a:Message {uid: $a})-[r:HAS_CONTEXT]->(c:Chunk) "
            "RETURN r.rank, r.score, c.text ORDER BY r.rank",
            {"q": str(turn.question_uid), "a": str(turn.id)},
        )
        return rows

    rows = wait_until(lineage, timeout=90, message="the worker did not sync the OTLP turn")
    assert rows == [
        [1, 0.91, "To restore, open the snapshot."],
        [2, 0.42, "Snapshots are taken daily."],
    ]
