"""POST /v1/traces: OTLP/HTTP trace export (protobuf or JSON, optionally gzip/deflate).

Authenticated with the ingestion API's Bearer tokens. Responses follow the OTLP/HTTP spec:
the body is an `ExportTraceServiceResponse` (success; `partialSuccess` carries the counts of
spans that were ignored or rejected) or a `google.rpc.Status` (failure), encoded like the
request. A request that cannot be decoded is a 400 and stores nothing; the OTel exporters do
not retry a 4xx other than 429, which is right: the same bytes would fail again.
"""

from __future__ import annotations

import json
import zlib

from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from chat import services
from chat.otlp import decode
from chat.otlp.mapping import Mapped, spans_map

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# The exporters' default batch (512 spans) is well under 1 MB; 8 MB is the ingestion API's cap.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_INFLATED_BYTES = 32 * 1024 * 1024  # a gzip bomb stops here, not in memory
GRPC_INVALID_ARGUMENT, GRPC_UNAUTHENTICATED = 3, 16


@login_not_required
@csrf_exempt
def traces(request: HttpRequest) -> HttpResponse:
    media = request.content_type.lower()
    encoding = JSON if media == JSON else PROTOBUF
    if request.method != "POST":
        response = _status(encoding, 405, GRPC_INVALID_ARGUMENT, "Use POST.")
        response["Allow"] = "POST"
        return response
    user = _bearer_user(request)
    if user is None:
        response = _status(
            encoding,
            401,
            GRPC_UNAUTHENTICATED,
            "Send a valid ReviewHub API token: Authorization: Bearer <token>.",
        )
        response["WWW-Authenticate"] = 'Bearer realm="reviewhub"'
        return response
    if media not in (PROTOBUF, JSON):
        return _bad(
            encoding,
            415,
            f"Content-Type {media or '(none)'} is not supported: "
            f"send {PROTOBUF} or {JSON} (OTLP/HTTP).",
        )
    try:
        spans = _decode(request, media)
    except _TooLarge as exc:
        return _bad(encoding, 413, str(exc))
    except decode.DecodeError as exc:
        return _bad(encoding, 400, str(exc))
    mapped = spans_map(spans, user_id=user.id)
    if mapped.items:
        _ingest(user, mapped.items)
    return _success(encoding, mapped)


def _bearer_user(request: HttpRequest):
    """The same rule as the ingestion API (chat/api.py `_authenticate`), kept here so the two
    endpoints can change independently of each other's module."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    return services.api_token_user(raw.strip())


class _TooLarge(Exception):
    pass


def _decode(request: HttpRequest, media: str) -> list[decode.Span]:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise _TooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes; export smaller batches.")
    body = _inflate(request.body, request.headers.get("Content-Encoding", "").strip().lower())
    return decode.from_json(body) if media == JSON else decode.from_protobuf(body)


def _inflate(body: bytes, encoding: str) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise decode.DecodeError(
            f"Content-Encoding {encoding} is not supported: send gzip, deflate or none."
        )
    # wbits: 16+ reads a gzip header, 0+ a zlib one (what "deflate" means in HTTP)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, MAX_INFLATED_BYTES)
        if inflater.unconsumed_tail:
            raise _TooLarge(f"The body inflates past {MAX_INFLATED_BYTES} bytes.")
        out += inflater.flush()
    except zlib.error as exc:
        raise decode.DecodeError(f"The body is not valid {encoding} data: {exc}") from None
    if not inflater.eof:
        raise decode.DecodeError(f"The {encoding} body is truncated.")
    return out


def _ingest(user, items: list[dict]) -> None:
    try:
        services.interactions_ingest(user=user, items=items)
    except IntegrityError:  # a concurrent retry stored the same spans first: now they are no-ops
        services.interactions_ingest(user=user, items=items)


# --- responses ----------------------------------------------------------------------------------


def _success(encoding: str, mapped: Mapped) -> HttpResponse:
    rejected = len(mapped.rejected)
    message = _summary(mapped)
    if encoding == JSON:
        body = {}
        if message:
            body["partialSuccess"] = {"rejectedSpans": str(rejected), "errorMessage": message}
        return HttpResponse(json.dumps(body), content_type=JSON)
    response = ExportTraceServiceResponse()
    if message:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(rejected_spans=rejected, error_message=message)
        )
    return HttpResponse(response.SerializeToString(), content_type=PROTOBUF)


def _summary(mapped: Mapped) -> str:
    """Empty when every span became a turn or a turn's passages (the spec's full success)."""
    if not mapped.ignored and not mapped.rejected:
        return ""
    parts = [
        f"{mapped.llm_spans - len(mapped.rejected)} LLM spans logged as turns "
        f"(a span sent again is not stored twice); "
        f"{mapped.context_spans} retriever spans used as their context"
    ]
    if mapped.ignored:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(mapped.ignored.items()))
        parts.append(f"{sum(mapped.ignored.values())} spans ignored, not LLM spans ({kinds})")
    if mapped.rejected:
        shown = "; ".join(mapped.rejected[:5])
        more = f" and {len(mapped.rejected) - 5} more" if len(mapped.rejected) > 5 else ""
        parts.append(f"{len(mapped.rejected)} LLM spans rejected: {shown}{more}")
    return ". ".join(parts) + "."


def _bad(encoding: str, status: int, message: str) -> HttpResponse:
    return _status(encoding, status, GRPC_INVALID_ARGUMENT, message)


def _status(encoding: str, http_status: int, code: int, message: str) -> HttpResponse:
    """A google.rpc.Status body, as OTLP/HTTP asks for every 4xx/5xx."""
    if encoding == JSON:
        return HttpResponse(
            json.dumps({"code": code, "message": message}), status=http_status, content_type=JSON
        )
    return HttpResponse(_status_protobuf(code, message), status=http_status, content_type=PROTOBUF)


def _status_protobuf(code: int, message: str) -> bytes:
    """google.rpc.Status {int32 code = 1; string message = 2;} encoded by hand: two fields do
    not justify a dependency on googleapis-common-protos at run time."""
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
