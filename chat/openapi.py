"""The ingestion API's request and response models: the one definition that validates what
clients send (chat/api.py) and describes it in /api/v1/openapi.json (reviewhub/apispec.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, Tag, TypeAdapter, model_validator
from pydantic_core import PydanticCustomError

from reviewhub.apispec import Body, Count, DateTime, JsonObject, NonBlank, Number, Record, Text

MAX_ITEMS = 1000
MAX_TEXT = 100_000
MAX_CONTEXT_ITEMS = 50
MAX_MESSAGES = 200
MAX_ERROR = 2000


class ContextIn(Body):
    """One retrieved passage that grounded the answer, in rank order."""

    text: NonBlank(MAX_TEXT)
    source: Text(1000) | None = None
    title: Text(300) | None = None
    score: Number | None = None


class Message(Body):
    """One message as sent to the model; other keys (name, tool_calls...) are ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")

    role: NonBlank(40)
    content: Text(MAX_TEXT)


class Interaction(Body):
    """One logged question and answer from your app."""

    id: uuid.UUID | None = Field(
        None,
        description="Client id; sending it again is a no-op that returns the stored record.",
    )
    conversation_id: Text(200) | None = None
    user: Text(200) | None = Field(None, description="Your end user's id")
    question: NonBlank(MAX_TEXT)
    answer: Text(MAX_TEXT)
    model: NonBlank(120)
    system_prompt: Text(MAX_TEXT) | None = None
    context: Annotated[list[ContextIn], Field(max_length=MAX_CONTEXT_ITEMS)] | None = None
    grounded: bool | None = Field(None, description="Defaults to true when context is given")
    latency_ms: Count | None = None
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    created_at: DateTime | None = None
    metadata: JsonObject | None = None
    messages: Annotated[list[Message], Field(max_length=MAX_MESSAGES)] | None = Field(
        None, description="The exact messages sent, if you have them"
    )
    params: JsonObject | None = Field(
        None,
        description="The model parameters of the call (temperature, max_tokens…), logged with "
        "the interaction like the chat page's",
    )
    status: Literal["ok", "error"] | None = Field(
        None, description="'error' for a call that failed (its answer may be empty); default 'ok'"
    )
    error: Text(MAX_ERROR) | None = Field(
        None, description="What went wrong; only with status 'error' (which it implies)"
    )

    @model_validator(mode="after")
    def _error_only_when_failed(self) -> Interaction:
        if self.error and self.status == "ok":
            raise PydanticCustomError("invalid", "An error goes with status 'error', not 'ok'.")
        return self


def _one_or_many(value: Any) -> str | None:
    if isinstance(value, dict):
        return "one"
    return "many" if isinstance(value, list) else None


# One object, or a batch (a list); the tag only picks which one validates the body.
Interactions = Annotated[
    Annotated[Interaction, Tag("one")]
    | Annotated[list[Interaction], Field(min_length=1, max_length=MAX_ITEMS), Tag("many")],
    Discriminator(
        _one_or_many,
        custom_error_type="body",
        custom_error_message="Send one interaction object or a non-empty list of them.",
    ),
]


# A batch as one type: dumped to JSON by the API for a batch it stores later, validated again
# from that JSON by the worker that stores it (chat.services.ingest_batch_store).
INTERACTION_LIST = TypeAdapter(list[Interaction])


def service_items(items: list[Interaction]) -> list[dict]:
    """The ingestion service's item dicts: absent optional fields as it expects them."""
    clean = INTERACTION_LIST.dump_python(items)  # one call into pydantic's Rust core
    for item in clean:
        item["metadata"] = item["metadata"] or {}
        context = item["context"] or []
        for passage in context:
            passage["source"] = passage["source"] or ""
            passage["title"] = passage["title"] or ""
        item["context"] = context
        if item["error"] and not item["status"]:
            item["status"] = "error"  # an error given alone says the call failed
        if item["status"] == "error" and not item["error"]:
            item["error"] = "The LLM call failed."
    return clean


class FeedbackIn(Body):
    rating: Literal["up", "down"]
    comment: Text(4000) | None = None


# --- responses -------------------------------------------------------------------------------


class ContextRecord(Record):
    rank: int
    text: str
    source: str
    title: str
    score: float | None


class FeedbackRecord(Record):
    id: uuid.UUID
    rating: Literal["up", "down"]
    comment: str
    user: str | None
    updated_at: datetime


class ReviewRecord(Record):
    """An expert's review. While the item is still being reviewed, a reviewer sees only their
    own (blind review); a lead taking no part sees all; once decided, all are shown."""

    id: uuid.UUID
    reviewer: str
    verdict: str
    scores: dict[str, Any]
    tags: list[Any]
    notes: str
    corrected_answer: str
    created_at: datetime


class TurnRecord(Record):
    id: uuid.UUID
    conversation_id: str
    user: str
    source: str
    question: str
    answer: str
    status: Literal["ok", "error"]
    error: str
    model: str
    provider: str
    params: dict[str, Any]
    system_prompt: str
    grounded: bool
    latency_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: datetime
    metadata: dict[str, Any]
    context: list[ContextRecord]
    feedback: list[FeedbackRecord]
    reviews: list[ReviewRecord]


class InteractionStored(Record):
    """The answer to one object: its id; `record` when it was already stored (a retry)."""

    id: uuid.UUID
    ids: list[uuid.UUID]
    created: bool
    record: TurnRecord | None = None


class BatchStored(Record):
    """The answer to a batch: the ids in request order."""

    ids: list[uuid.UUID]
    created: int = Field(ge=0)
    existing: int = Field(ge=0)


Stored = InteractionStored | BatchStored


class BatchAccepted(Record):
    """The answer to a batch sent with `Prefer: respond-async`: accepted, stored by a worker
    within seconds. `status` is where to see it stored (also the `Location` header)."""

    ids: list[uuid.UUID]
    accepted: int = Field(ge=0, description="Interactions in the batch")
    existing: int = Field(ge=0, description="Of them, already stored when it was accepted")
    batch: uuid.UUID
    status: str


class IngestBatchRecord(Record):
    """A batch accepted to store later. `errors` names items refused when it was stored
    (an id another account took meanwhile), in the request's indexes."""

    id: uuid.UUID
    status: Literal["queued", "running", "stored", "failed"]
    items: int
    stored: int = Field(description="Interactions stored by this batch")
    existing: int = Field(description="Already stored before it (retries)")
    errors: dict[str, list[str]]
    error: str
    created_at: datetime
    finished_at: datetime | None
