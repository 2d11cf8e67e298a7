"""The JSON API: each operation declared once, with pydantic models that both validate the
request and describe it (and its responses) in the OpenAPI document, so the two cannot drift.

Any app adds an operation without editing another app::

    from pydantic import Field
    from reviewhub import apispec

    class ScoreIn(apispec.Body):             # a request body: strict JSON types, unknown
        criterion: apispec.Text(100)          # fields refused, text without NUL/surrogates
        value: apispec.Number = Field(ge=0, le=1)

    class ScoreOut(apispec.Record):
        id: uuid.UUID
        value: float

    @apispec.operation(
        "POST",
        "/interactions/{id}/scores",          # OpenAPI path; each {param} is a UUID
        summary="Score an interaction",
        request=ScoreIn,
        responses={201: (ScoreOut, "Stored"), 404: "No such interaction"},
    )
    def interaction_scores(request, turn_id, *, user, body: ScoreIn) -> JsonResponse:
        ...
        return apispec.respond(201, ScoreOut(id=..., value=...))

and route it in the app's own urls (included under ``api/v1/`` in reviewhub/urls.py, before
the JSON catch-all): ``path("interactions/<uuid:turn_id>/scores", views.interaction_scores)``.
Two methods on one path: ``apispec.endpoint(view_get, view_post)`` as the URL's view.

The decorator does, in order: a JSON 405 with `Allow` for another method; the Bearer token
(401; `user=` is passed to the view); for a request model, the body size (413), parsing
(400 `body`) and validation (400 naming each field, e.g. `"3.question"` in a batch, or 413
for a list over its maximum). Errors keep one shape: ``{"errors": {"<field>": ["message"]}}``.
401, 405 and 400/413 (when there is a body) are added to every operation's documented
responses. The document is built by `document()` from every registered operation and served
at /api/v1/openapi.json.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from reviewhub import validation

MAX_BODY_BYTES = 8 * 1024 * 1024
# Finds the user for a raw Bearer token (or None); a dotted path, so this module imports no app.
AUTHENTICATE = "chat.services.api_token_user"
INT32_MAX = validation.INT32_MAX


# --- types for request and response models ---------------------------------------------------


def _custom(value_error: ValueError) -> PydanticCustomError:
    return PydanticCustomError("invalid", str(value_error))


def _datetime(value: datetime) -> datetime:
    try:
        return validation.check_datetime(value)
    except ValueError as exc:
        raise _custom(exc) from None


def _json(value: Any) -> Any:
    try:
        return validation.check_json_value(value)
    except ValueError as exc:
        raise _custom(exc) from None


def refuse_with(message: str) -> WrapValidator:
    """Replace whatever a scalar's own checks say with one stable message."""

    def wrap(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("invalid", message) from None

    return WrapValidator(wrap)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("invalid", validation.NUL_MESSAGE)
    return value


# Requests are parsed by `validate_json`, whose parser already refuses unpaired surrogates, so
# text needs only the NUL check here: one `in` per string (a batch of 1,000 has ~10,000), cheaper
# than a regex, and a pattern in the document made schemathesis's generation 3 times slower.
NOT_BLANK = r"\S"


def Text(max_length: int) -> Any:
    """A string of at most max_length characters, without NUL (or unpaired surrogates)."""
    return Annotated[str, Field(max_length=max_length), AfterValidator(_no_nul)]


def NonBlank(max_length: int) -> Any:
    """Text with at least one character other than white space, at most max_length long."""
    return Annotated[
        str, Field(min_length=1, max_length=max_length, pattern=NOT_BLANK), AfterValidator(_no_nul)
    ]


def _integral(value: Any) -> Any:
    """JSON Schema counts 5.0 as an integer; so do we (5.5 stays a float and is refused)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Count = Annotated[
    int,
    Field(ge=0, le=INT32_MAX),
    refuse_with("Must be a non-negative integer."),
    BeforeValidator(_integral),
]
Number = Annotated[float, Field(allow_inf_nan=False)]
DateTime = Annotated[
    datetime,
    AfterValidator(_datetime),
    Field(
        description=(
            "ISO 8601 / RFC 3339 date-time, from 2000-01-01T00:00:00Z to one day from now; "
            "an offset of at most ±14:00, UTC when none is given."
        )
    ),
]
JsonObject = Annotated[
    dict[str, Any],
    AfterValidator(_json),
    Field(
        description=(
            f"Any JSON object nested at most {validation.MAX_JSON_DEPTH} deep; finite numbers, "
            "64-bit integers, text without NUL."
        )
    ),
]


class Body(BaseModel):
    """Base of request bodies: JSON types exactly (no "5" for 5), unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Record(BaseModel):
    """Base of response bodies (built by the server, so not strict)."""

    model_config = ConfigDict(extra="forbid")


class Errors(BaseModel):
    """Messages per field; in a batch, fields are prefixed with the item index ("3.question")."""

    errors: dict[str, list[str]]


# --- the registry --------------------------------------------------------------------------------


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    description: str
    request: Any
    responses: dict[int, tuple[Any, str]]
    auth: bool
    adapter: TypeAdapter | None = field(default=None, repr=False)


_OPERATIONS: dict[tuple[str, str], Operation] = {}


def operations() -> list[Operation]:
    return sorted(_OPERATIONS.values(), key=lambda op: (op.path, op.method))


def operation(
    method: str,
    path: str,
    *,
    summary: str,
    responses: dict[int, Any],
    request: Any = None,
    description: str = "",
    auth: bool = True,
) -> Callable[[Callable[..., JsonResponse]], Callable[..., JsonResponse]]:
    """Register an operation and wrap its view (see the module docstring)."""
    method = method.upper()
    normalised = {
        status: spec if isinstance(spec, tuple) else (None, spec)
        for status, spec in responses.items()
    }
    op = Operation(
        method=method,
        path=path,
        summary=summary,
        description=description,
        request=request,
        responses=normalised,
        auth=auth,
        adapter=TypeAdapter(request) if request is not None else None,
    )
    _OPERATIONS[(path, method)] = op

    def decorate(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if request.method != method:
                return method_not_allowed([method])
            return _run(op, view, request, args, kwargs)

        wrapped.api_operation = op
        wrapped.api_view = view
        return login_not_required(csrf_exempt(wrapped))

    return decorate


def endpoint(*views: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    """One URL serving several operations (one per method); another method is a JSON 405."""
    by_method = {v.api_operation.method: v for v in views}

    @login_not_required
    @csrf_exempt
    def dispatch(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        view = by_method.get(request.method or "")
        if view is None:
            return method_not_allowed(sorted(by_method))
        return _run(view.api_operation, view.api_view, request, args, kwargs)

    return dispatch


def _run(op: Operation, view, request: HttpRequest, args: tuple, kwargs: dict) -> JsonResponse:
    if op.auth:
        user = authenticate(request)
        if user is None:
            return unauthorized()
        kwargs["user"] = user
    if op.adapter is not None:
        body, problem = parse_body(request, op.adapter)
        if problem is not None:
            return problem
        kwargs["body"] = body
    return view(request, *args, **kwargs)


# --- requests and responses ----------------------------------------------------------------------


def error(status: int, errors: dict[str, list[str]]) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


def respond(status: int, record: BaseModel, **dump: Any) -> JsonResponse:
    """A response from its model (`dump` as for model_dump, e.g. exclude_unset=True)."""
    return JsonResponse(record.model_dump(mode="json", **dump), status=status)


def method_not_allowed(allowed: list[str]) -> JsonResponse:
    response = error(405, {"method": [f"Use {' or '.join(allowed)}."]})
    response["Allow"] = ", ".join(allowed)
    return response


@login_not_required
@csrf_exempt
def not_found(request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> JsonResponse:
    return error(404, {"path": ["No such API endpoint; see /api/v1/openapi.json."]})


def authenticate(request: HttpRequest):
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    return import_string(AUTHENTICATE)(raw.strip())


def unauthorized() -> JsonResponse:
    response = error(
        401, {"authorization": ["Send a valid API token: Authorization: Bearer <token>."]}
    )
    response["WWW-Authenticate"] = 'Bearer realm="reviewhub"'
    return response


def parse_body(request: HttpRequest, adapter: TypeAdapter) -> tuple[Any, JsonResponse | None]:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return None, _too_large()
    raw = request.body
    if len(raw) > MAX_BODY_BYTES:
        return None, _too_large()
    try:
        return adapter.validate_json(raw or b"null"), None
    except ValidationError as exc:
        return None, validation_error(exc)


def _too_large() -> JsonResponse:
    return error(
        413, {"body": [f"The body is larger than {MAX_BODY_BYTES} bytes; send smaller batches."]}
    )


# Union tags (from a callable Discriminator) are not fields: "one"/"many" vanish from names.
_TAGS = {"one", "many"}


def validation_error(exc: ValidationError) -> JsonResponse:
    """400 naming each field; a list body over its maximum size is 413 Payload Too Large."""
    errors: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"] if part not in _TAGS]
        if err["type"] == "json_invalid":
            return error(400, {"body": [_invalid_json(err)]})
        if err["type"] == "too_long" and not loc:
            return error(413, {"body": [f"At most {err['ctx']['max_length']} items per request."]})
        name = ".".join(loc) or "body"
        message = message_for(err)
        if message not in errors.setdefault(name, []):
            errors[name].append(message)
    return error(400, errors)


def _invalid_json(err: dict) -> str:
    if "recursion limit" in err.get("ctx", {}).get("error", ""):
        return "The body is nested too deeply."
    return "The body is not valid JSON."


_MESSAGES = {
    "missing": "This field is required.",
    "extra_forbidden": "Unknown field.",
    "string_type": "Must be a string.",
    "bool_type": "Must be true or false.",
    "int_type": "Must be an integer.",
    "float_type": "Must be a number.",
    "finite_number": "Must be a finite number.",
    "uuid_type": "Must be a UUID.",
    "uuid_parsing": "Must be a UUID.",
    "datetime_type": "Must be an ISO 8601 date-time, e.g. 2026-11-24T10:00:00Z.",
    "datetime_parsing": "Must be an ISO 8601 date-time, e.g. 2026-11-24T10:00:00Z.",
    "datetime_from_date_parsing": "Must be an ISO 8601 date-time, e.g. 2026-11-24T10:00:00Z.",
    "dict_type": "Must be an object.",
    "model_type": "Must be an object.",
    "model_attributes_type": "Must be an object.",
    "list_type": "Must be a list.",
}


def message_for(err: dict) -> str:
    """A stable, plain message for one pydantic error (pydantic's own wording may change)."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if err.get("input", "") is None and kind.endswith("_type"):
        return "This field is required."  # null where a value is needed
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "string_too_short":
        return (
            "Must not be empty."
            if ctx.get("min_length") == 1
            else (f"At least {ctx.get('min_length')} characters.")
        )
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NOT_BLANK:
        return "Must not be empty."
    if kind == "string_too_long":
        return f"At most {ctx.get('max_length')} characters."
    if kind == "too_short":
        return (
            "Must not be empty."
            if ctx.get("min_length") == 1
            else (f"At least {ctx.get('min_length')} items.")
        )
    if kind == "too_long":
        return f"At most {ctx.get('max_length')} items."
    if kind in {"greater_than_equal", "greater_than"}:
        return f"Must be at least {ctx.get('ge', ctx.get('gt'))}."
    if kind in {"less_than_equal", "less_than"}:
        return f"Must be at most {ctx.get('le', ctx.get('lt'))}."
    if kind in {"literal_error", "enum"}:
        return f"Must be {str(ctx.get('expected', '')).replace(chr(39), chr(34))}."
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return err["msg"]


# --- the document ------------------------------------------------------------------------------

_REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"{(\w+)}")


def document(*, server_url: str, title: str, version: str, description: str) -> dict:
    """The OpenAPI 3.1 document of every registered operation."""
    schemas: dict[str, dict] = {}
    paths: dict[str, dict] = {}
    for op in operations():
        entry: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(op)}
        if op.description:
            entry["description"] = op.description
        params = _PARAM.findall(op.path)
        if params:
            entry["parameters"] = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                }
                for name in params
            ]
        if op.request is not None:
            entry["requestBody"] = {"required": True, **_content(op.request, schemas)}
        responses: dict[str, dict] = {}
        for status, (model, text) in sorted(_standard_responses(op).items()):
            responses[str(status)] = {"description": text}
            if model is not None:
                responses[str(status)].update(_content(model, schemas, mode="serialization"))
        entry["responses"] = responses
        if not op.auth:
            entry["security"] = []
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "From the API tokens page or `manage.py create_api_token`",
                }
            },
            "schemas": dict(sorted(schemas.items())),
        },
    }


def _standard_responses(op: Operation) -> dict[int, tuple[Any, str]]:
    standard: dict[int, tuple[Any, str]] = {405: (Errors, "Method not allowed (see `Allow`)")}
    if op.auth:
        standard[401] = (Errors, "Missing or invalid token")
    if op.request is not None:
        standard[400] = (Errors, "Invalid input; nothing was stored")
        standard[413] = (Errors, "Body too large")
    if _PARAM.search(op.path):
        standard[404] = (Errors, "No such object")
    for status, (model, text) in op.responses.items():
        if model is None and status >= 400:
            model = Errors  # every error has the one shape
        standard[status] = (model, text)
    return standard


def _operation_id(op: Operation) -> str:
    words = re.sub(r"[{}]", "", op.path).strip("/").replace("/", "_")
    return f"{op.method.lower()}_{words}"


def _content(model: Any, schemas: dict[str, dict], mode: str = "validation") -> dict:
    schema = TypeAdapter(model).json_schema(ref_template=_REF, mode=mode)
    for name, definition in schema.pop("$defs", {}).items():
        if schemas.setdefault(name, definition) != definition:
            raise ValueError(f"Two different API schemas are both named {name!r}")
    if isinstance(model, type) and issubclass(model, BaseModel):
        name = model.__name__
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"Two different API schemas are both named {name!r}")
        schema = {"$ref": _REF.format(model=name)}
    return {"content": {"application/json": {"schema": schema}}}
