"""Spans → interactions for `chat.services.interactions_ingest`, the ingestion API's service.

Two conventions are read:

* OpenInference (Arize; Phoenix, LlamaIndex/LangChain/OpenAI instrumentors):
  `openinference.span.kind` = LLM / RETRIEVER / RERANKER, flattened lists such as
  `llm.input_messages.<i>.message.role|content`, `llm.output_messages.…`, `llm.model_name`,
  `llm.invocation_parameters` (JSON), `llm.token_count.prompt|completion`,
  `retrieval.documents.<i>.document.content|score|id|metadata` (a reranker's
  `reranker.output_documents.…` replace them), `session.id`, `user.id`.
* OpenTelemetry GenAI semantic conventions: `gen_ai.operation.name` = chat / text_completion /
  generate_content (an LLM call) or retrieval; `gen_ai.request.model`, `gen_ai.response.model`,
  `gen_ai.request.temperature|top_p|max_tokens|…`, `gen_ai.usage.input_tokens|output_tokens`,
  `gen_ai.conversation.id`; messages as the `gen_ai.input.messages` / `gen_ai.output.messages` /
  `gen_ai.system_instructions` attributes (JSON strings or structured values; also when carried
  by a `gen_ai.client.inference.operation.details` span event), the older per-message span
  events (`gen_ai.user.message`, `gen_ai.choice`, …; `gen_ai.content.prompt|completion`), and
  OpenLLMetry's flattened `gen_ai.prompt.<i>.role|content` / `gen_ai.completion.<i>.…`;
  retrieval documents as `gen_ai.retrieval.documents` (`[{id, score, content}]`).

Every LLM span is one interaction; its client id is derived from (user, trace id, span id), so a
re-sent span is a no-op and two accounts sending the same ids never collide. Retriever spans
give the passages of the next LLM span (by start time) in the same trace and request. Without
a session/conversation id, the trace is the conversation, so an agent's calls stay together.
Everything else is counted and ignored.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chat.otlp.decode import STATUS_ERROR, Span

# Limits of the ingestion API (chat/api.py), so both doors store the same shapes.
MAX_TEXT = 100_000
MAX_CONTEXT_ITEMS = 50
MAX_MODEL = 120
MAX_EXTERNAL_ID = 200
MAX_COUNT = 2**31 - 1
NAMESPACE = uuid.UUID("5d0b5e0c-9c55-4c1e-8a57-0f5e4f0a7c11")  # ReviewHub OTLP span ids

LLM_OPERATIONS = {"chat", "text_completion", "generate_content", "completion"}
GEN_AI_PARAMS = (
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "frequency_penalty",
    "presence_penalty",
    "stop_sequences",
    "seed",
    "choice.count",
)
SYSTEM_ROLES = {"system", "developer"}
CONTEXT_KINDS = {"RETRIEVER", "RERANKER"}


@dataclass
class Mapped:
    items: list[dict] = field(default_factory=list)
    llm_spans: int = 0
    context_spans: int = 0  # retriever spans whose documents became a turn's passages
    ignored: Counter = field(default_factory=Counter)  # why/kind → count
    rejected: list[str] = field(default_factory=list)  # one message per rejected LLM span


def spans_map(spans: list[Span], *, user_id: int) -> Mapped:
    result = Mapped()
    by_trace: dict[str, list[tuple[int, str, Span]]] = {}
    for span in spans:
        kind = _kind(span.attributes)
        if kind in CONTEXT_KINDS or kind == "LLM":
            by_trace.setdefault(span.trace_id, []).append((span.start_ns, kind, span))
        else:
            result.ignored[kind] += 1
    timed: list[tuple[int, dict]] = []
    for members in by_trace.values():
        if len(members) > 1:  # a retriever before the LLM call on a tie
            members.sort(key=lambda m: (m[0], m[1] == "LLM"))
        pending: list[dict] = []
        pending_spans = 0
        for start_ns, kind, span in members:
            if kind == "RETRIEVER":
                pending += _documents(span.attributes, "retrieval.documents.")
                pending_spans += 1
                continue
            if kind == "RERANKER":  # the model sees the reranked passages, not all retrieved
                pending = _documents(span.attributes, "reranker.output_documents.")
                pending_spans += 1
                continue
            result.llm_spans += 1
            try:
                timed.append((start_ns, _interaction(span, pending, user_id)))
            except ValueError as exc:
                result.rejected.append(f"span {span.span_id} ({span.name or 'unnamed'}): {exc}")
            result.context_spans += pending_spans
            pending, pending_spans = [], 0
        if pending_spans:
            result.ignored["retriever spans with no LLM span after them in this request"] += (
                pending_spans
            )
    # in start order, so turns of one conversation get their positions in the order they ran
    timed.sort(key=lambda t: t[0])
    result.items = [item for _, item in timed]
    return result


def _kind(attributes: dict) -> str:
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str):
        return kind.upper() or "unlabelled"
    operation = attributes.get("gen_ai.operation.name")
    if operation is None:
        operation = attributes.get("llm.request.type")  # OpenLLMetry before gen_ai.operation
    if isinstance(operation, str):
        if operation in LLM_OPERATIONS:
            return "LLM"
        if operation == "retrieval":
            return "RETRIEVER"
        return f"gen_ai {operation}"
    return "unlabelled"


# --- one LLM span ----------------------------------------------------------------------------


def _interaction(span: Span, contexts: list[dict], user_id: int) -> dict:
    a = span.attributes
    openinference = "openinference.span.kind" in a
    if not openinference:
        a = _with_event_details(span)
    inputs, outputs, system = (
        _openinference_messages(a) if openinference else _gen_ai_messages(a, span.events)
    )
    question = _last(inputs, "user") or _last(inputs, None)
    if not question:
        question = _text(a.get("input.value")) if openinference else ""
    if not question:
        raise ValueError(
            "an LLM span without input messages (turn on message content capture in the "
            "instrumentation, e.g. OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true)"
        )
    answer = _last(outputs, "assistant") or _last(outputs, None)
    if not answer and openinference:
        answer = _text(a.get("output.value"))
    system_prompt = system or "\n\n".join(
        m["content"] for m in inputs if m["role"] in SYSTEM_ROLES and m["content"]
    )
    if system and not any(m["role"] in SYSTEM_ROLES for m in inputs):
        # GenAI keeps the instructions beside the messages; the logged prompt is what the model
        # saw (chat.prompts.production_messages reads it for review and every export)
        inputs = [{"role": "system", "content": system}, *inputs]
    for name, value in (("question", question), ("answer", answer), ("system", system_prompt)):
        if len(value) > MAX_TEXT:
            raise ValueError(f"the {name} is longer than {MAX_TEXT} characters")
    model = _first_text(a, "llm.model_name", "gen_ai.response.model", "gen_ai.request.model")
    conversation = _first_text(a, "session.id", "gen_ai.conversation.id") or (
        f"trace-{span.trace_id}"
    )
    failed = span.status_code == STATUS_ERROR
    item = {
        "id": uuid.uuid5(NAMESPACE, f"{user_id}:{span.trace_id}:{span.span_id}"),
        "conversation_id": conversation[:MAX_EXTERNAL_ID],
        "user": _first_text(a, "user.id", "enduser.id", "gen_ai.user.id")[:MAX_EXTERNAL_ID],
        "question": question,
        "answer": answer,
        "model": (model or "unknown")[:MAX_MODEL],
        "system_prompt": system_prompt,
        "messages": inputs or None,
        "grounded": None,  # grounded when it has passages, as in the API
        "context": contexts[:MAX_CONTEXT_ITEMS],
        "params": _openinference_params(a) if openinference else _gen_ai_params(a),
        "latency_ms": _latency(span),
        "prompt_tokens": _count(
            a, "llm.token_count.prompt", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"
        ),
        "completion_tokens": _count(
            a,
            "llm.token_count.completion",
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
        ),
        "created_at": _time(span.start_ns),
        "status": "error" if failed else "ok",
        "error": (span.status_message or _exception(span) or "The LLM call failed.")
        if failed
        else "",
        "metadata": _metadata(span, a, "openinference" if openinference else "gen_ai"),
    }
    return {key: _storable(value) for key, value in item.items()}


def _openinference_messages(a: dict) -> tuple[list[dict], list[dict], str]:
    inputs = _oi_messages(a, "llm.input_messages.")
    outputs = _oi_messages(a, "llm.output_messages.")
    if not inputs:  # the legacy completions API: llm.prompts.<i>.prompt.text
        inputs = _oi_texts(a, "llm.prompts.", "prompt.text", "user")
    if not outputs:
        outputs = _oi_texts(a, "llm.choices.", "completion.text", "assistant")
    return inputs, outputs, ""


def _oi_texts(a: dict, prefix: str, key: str, role: str) -> list[dict]:
    return [
        {"role": role, "content": f[key]}
        for _, f in sorted(_indexed(a, prefix).items())
        if isinstance(f.get(key), str)
    ]


def _oi_messages(a: dict, prefix: str) -> list[dict]:
    messages = []
    for _, fields in sorted(_indexed(a, prefix).items()):
        content = fields.get("message.content")
        if not isinstance(content, str):  # multimodal: message.contents.<j>.message_content.*
            parts = _indexed(fields, "message.contents.")
            content = "\n".join(
                p["message_content.text"]
                for _, p in sorted(parts.items())
                if isinstance(p.get("message_content.text"), str)
            )
        messages.append({"role": _text(fields.get("message.role")) or "user", "content": content})
    return messages


def _with_event_details(span: Span) -> dict:
    """GenAI content may travel in a `gen_ai.client.inference.operation.details` event."""
    merged = None
    for name, _, attributes in span.events:
        if name == "gen_ai.client.inference.operation.details":
            merged = {**attributes, **(merged or span.attributes)}
    return merged or span.attributes


def _gen_ai_messages(a: dict, events) -> tuple[list[dict], list[dict], str]:
    system = _parts_text(_structured(a.get("gen_ai.system_instructions")))
    inputs = _gen_ai_list(_structured(a.get("gen_ai.input.messages")))
    outputs = _gen_ai_list(_structured(a.get("gen_ai.output.messages")))
    if not inputs:  # OpenLLMetry: gen_ai.prompt.<i>.role / .content
        inputs = _flat_messages(a, "gen_ai.prompt.")
        outputs = outputs or _flat_messages(a, "gen_ai.completion.")
    if not inputs:
        inputs, event_outputs = _event_messages(events)
        outputs = outputs or event_outputs
    return inputs, outputs, system


def _gen_ai_list(value) -> list[dict]:
    if not isinstance(value, list):
        return []
    messages = []
    for m in value:
        if not isinstance(m, dict):
            continue
        content = m.get("parts") if "parts" in m else m.get("content")
        messages.append({"role": _text(m.get("role")) or "user", "content": _parts_text(content)})
    return messages


def _parts_text(content) -> str:
    """Text of a message's content: a string, or a list of parts ({type: text, content})."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return ""
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") == "text":
            text = part.get("content", part.get("text"))
            if isinstance(text, str):
                texts.append(text)
    return "\n".join(texts)


def _flat_messages(a: dict, prefix: str) -> list[dict]:
    return [
        {"role": _text(f.get("role")) or "user", "content": _parts_text(f.get("content"))}
        for _, f in sorted(_indexed(a, prefix).items())
        if "content" in f
    ]


EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def _event_messages(events) -> tuple[list[dict], list[dict]]:
    """Older GenAI conventions: one span event per message, or prompt/completion events."""
    inputs: list[dict] = []
    outputs: list[dict] = []
    for name, _, attributes in events:
        if name == "gen_ai.content.prompt":
            inputs += _gen_ai_list(_structured(attributes.get("gen_ai.prompt")))
        elif name == "gen_ai.content.completion":
            outputs += _gen_ai_list(_structured(attributes.get("gen_ai.completion")))
        elif name in EVENT_ROLES:
            body = _structured(attributes.get("gen_ai.event.content"))
            content = body.get("content") if isinstance(body, dict) else None
            if content is None:
                content = _structured(attributes.get("content"))
            inputs.append({"role": EVENT_ROLES[name], "content": _parts_text(content)})
        elif name == "gen_ai.choice":
            body = _structured(attributes.get("gen_ai.event.content") or attributes.get("message"))
            message = body.get("message", body) if isinstance(body, dict) else {}
            content = message.get("content") if isinstance(message, dict) else None
            outputs.append({"role": "assistant", "content": _parts_text(content)})
    return inputs, outputs


def _openinference_params(a: dict) -> dict:
    params = _structured(a.get("llm.invocation_parameters"))
    return params if isinstance(params, dict) else {}


def _gen_ai_params(a: dict) -> dict:
    params = {}
    for name in GEN_AI_PARAMS:
        value = a.get(f"gen_ai.request.{name}")
        if value is not None:
            params[name] = value
    return params


# --- retriever spans ---------------------------------------------------------------------------


def _documents(a: dict, prefix: str) -> list[dict]:
    raw: list[dict] = []
    if f"{prefix}0.document.content" in a or f"{prefix}0.document.id" in a:
        for _, f in sorted(_indexed(a, prefix).items()):
            raw.append(
                {
                    "content": f.get("document.content"),
                    "score": f.get("document.score"),
                    "id": f.get("document.id"),
                    "metadata": _structured(f.get("document.metadata")),
                }
            )
    else:
        docs = _structured(a.get("gen_ai.retrieval.documents"))
        raw = [d for d in docs if isinstance(d, dict)] if isinstance(docs, list) else []
    passages = []
    for d in raw:
        text = _parts_text(d.get("content"))
        if not text:  # ids/scores without content: nothing a reviewer could read
            continue
        meta = d.get("metadata") if isinstance(d.get("metadata"), dict) else {}
        score = d.get("score")
        source = meta.get("source") or d.get("source_id") or d.get("id") or ""
        passages.append(
            {
                "text": text[:MAX_TEXT],
                "score": float(score)
                if isinstance(score, (int, float)) and not isinstance(score, bool)
                else None,
                "source": str(source),
                "title": str(meta.get("title") or ""),
            }
        )
    return passages


# --- small readers ---------------------------------------------------------------------------


def _indexed(a: dict, prefix: str) -> dict[int, dict]:
    """{"p.0.x": 1, "p.0.y": 2, "p.1.x": 3} → {0: {"x": 1, "y": 2}, 1: {"x": 3}}."""
    out: dict[int, dict] = {}
    cut = len(prefix)
    for key, value in a.items():
        if key.startswith(prefix):
            index, _, rest = key[cut:].partition(".")
            if index.isdigit():
                out.setdefault(int(index), {})[rest] = value
    return out


def _storable(value):
    """What both databases take: PostgreSQL refuses NUL characters in text and in JSON, and
    JSON has no NaN/Infinity; bytes attributes have no JSON form."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bytes, bytearray)):
        return None
    return value


def _structured(value):
    """A JSON-string attribute decoded (structured AnyValues arrive decoded already)."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _first_text(a: dict, *keys: str) -> str:
    for key in keys:
        value = a.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return ""


def _last(messages: list[dict], role: str | None) -> str:
    for m in reversed(messages):
        if (role is None and m["role"] not in SYSTEM_ROLES) or m["role"] == role:
            if m["content"]:
                return m["content"]
    return ""


def _count(a: dict, *keys: str) -> int | None:
    for key in keys:
        value = a.get(key)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
            return value
    return None


def _latency(span: Span) -> int | None:
    if span.start_ns <= 0 or span.end_ns < span.start_ns:
        return None
    return min((span.end_ns - span.start_ns) // 1_000_000, MAX_COUNT)


def _time(ns: int) -> datetime | None:
    if ns <= 0:
        return None
    try:
        return datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(
            microsecond=ns % 1_000_000_000 // 1000
        )
    except (OverflowError, ValueError, OSError):
        return None


def _exception(span: Span) -> str:
    for name, _, attributes in span.events:
        if name == "exception":
            return _text(attributes.get("exception.message")) or _text(
                attributes.get("exception.type")
            )
    return ""


def _metadata(span: Span, a: dict, convention: str) -> dict:
    client = _structured(a.get("metadata"))  # OpenInference's free-form metadata (JSON)
    otel = {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "span_name": span.name,
        "convention": convention,
    }
    if span.parent_span_id:
        otel["parent_span_id"] = span.parent_span_id
    service = span.resource.get("service.name")
    if isinstance(service, str):
        otel["service"] = service
    vendor = _first_text(a, "llm.provider", "llm.system", "gen_ai.provider.name", "gen_ai.system")
    if vendor:
        otel["provider"] = vendor
    metadata = {k: v for k, v in client.items() if k != "otel"} if isinstance(client, dict) else {}
    tags = a.get("tag.tags")
    if isinstance(tags, list):
        metadata["tags"] = [t for t in tags if isinstance(t, str)]
    metadata["otel"] = otel
    return metadata
