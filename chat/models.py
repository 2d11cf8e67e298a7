from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.query_utils import DeferredAttribute

from chat import prompt_storage
from reviewhub.ids import uuid7
from reviewhub.jobs import JobFields


class PromptTemplate(models.Model):
    """A versioned system prompt + context template. A version in use is never edited:
    a change is a new version (same name, version + 1)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, default="default")
    version = models.PositiveIntegerField(default=1)
    system_prompt = models.TextField()
    context_template = models.TextField(
        help_text="How the retrieved chunks are rendered; {context} marks where they go."
    )
    chunk_template = models.TextField(default="[{rank}] {title}\n{text}")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="prompt_name_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class ModelEndpoint(models.Model):
    """A model leads registered: any OpenAI-compatible server (OpenAI, Together, Fireworks,
    a local vLLM or Ollama). The key never enters the database: `api_key_env` names the
    environment variable that holds it. Used by the chat page, replays and experiments."""

    class FineTuneStatus(models.TextChoices):
        NONE = "", "Not fine-tuned"
        RUNNING = "running", "Fine-tune running"
        SUCCEEDED = "succeeded", "Fine-tuned"
        FAILED = "failed", "Fine-tune failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.SlugField(max_length=30, unique=True, help_text="How the model is shown")
    base_url = models.URLField(
        max_length=300, blank=True, help_text="OpenAI-compatible base URL; blank: OpenAI's"
    )
    api_key_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the environment variable with the key"
    )
    model = models.CharField(max_length=200, help_text="The model id the server expects")
    params = models.JSONField(default=dict, blank=True, help_text="Default parameters")
    in_chat = models.BooleanField(default=True, help_text="Offered on the chat page")
    fine_tuned_from = models.UUIDField(
        null=True, blank=True, help_text="The release this model was fine-tuned on"
    )
    fine_tune_job = models.CharField(max_length=200, blank=True)
    fine_tune_status = models.CharField(
        max_length=10, choices=FineTuneStatus.choices, blank=True, default=""
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Topic(models.Model):
    """What questions are about: written by hand as keyword rules, or discovered from the
    questions themselves (topics.discovery). Which questions belong is `TopicMembership`."""

    class Method(models.TextChoices):
        KEYWORD = "keyword", "Keyword rules"
        DISCOVERED = "discovered", "Discovered"

    class NamedBy(models.TextChoices):
        TERMS = "terms", "Distinctive terms"
        LLM = "llm", "Language model"
        EXPERT = "expert", "Expert"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120, unique=True)
    keywords = models.JSONField(default=list, blank=True)
    method = models.CharField(max_length=12, choices=Method.choices, default=Method.KEYWORD)
    named_by = models.CharField(max_length=8, choices=NamedBy.choices, default=NamedBy.EXPERT)
    # A pinned topic keeps its name and members across discovery runs (new questions may join).
    pinned = models.BooleanField(default=False)
    terms = models.JSONField(default=list, blank=True, help_text="Most distinctive terms")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    class Source(models.TextChoices):
        CHAT = "chat", "Chat page"
        API = "api", "Ingestion API"
        REPLAY = "replay", "Replay"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # db_index=False: the (user, …) composite indexes below already lead with user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="conversations",
        db_index=False,
    )
    title = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CHAT)
    external_id = models.CharField(max_length=200, blank=True, help_text="Client conversation id")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["user", "-updated_at"]),
            models.Index(fields=["user", "external_id"]),
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.id}"


class _PromptAttribute(DeferredAttribute):
    """Reads a stored prompt column as sent (chat.prompt_storage rebuilds it from the turn's
    own texts); the column's raw, packed value stays in the instance's __dict__, so a save
    writes it back packed."""

    def __get__(self, instance, cls=None):
        if instance is None:
            return self
        super().__get__(instance, cls)  # loads a deferred column
        return _stored_prompt(instance)[self.field.attname]

    def __set__(self, instance, value):
        instance.__dict__[self.field.attname] = value


def _stored_prompt(turn) -> dict:
    """The turn's prompt columns as sent, rebuilt from their packed values (the context
    passages are read only when the prompt refers to them: one query, or none when
    `contexts` is prefetched). Remembered until a column changes. A module function, not a
    method, so migrations' historical models read the columns alike."""
    raw = (turn.__dict__.get("prompt_messages"), turn.__dict__.get("rendered_context"))
    cached = turn.__dict__.get("_stored_prompt")
    if cached is not None and cached[0] is raw[0] and cached[1] == raw[1]:
        return cached[2]
    messages, rendered = prompt_storage.unpack(
        prompt_messages=raw[0],
        system_prompt=turn.system_prompt,
        rendered_context=raw[1] or "",
        question=turn.question,
        passages=lambda: {c.rank: c.text for c in turn.contexts.all()},
    )
    value = {"prompt_messages": messages, "rendered_context": rendered}
    turn.__dict__["_stored_prompt"] = (raw[0], raw[1], value)
    return value


class PromptMessagesField(models.JSONField):
    descriptor_class = _PromptAttribute

    def pre_save(self, model_instance, add):
        return model_instance.__dict__.get(self.attname)


class RenderedContextField(models.TextField):
    descriptor_class = _PromptAttribute

    def pre_save(self, model_instance, add):
        return model_instance.__dict__.get(self.attname)


class Turn(models.Model):
    """One logged question and answer, with everything that produced the answer.

    In the graph a turn is two Message nodes: the user's (id `question_uid`) and the
    assistant's (id `id`), linked by NEXT.
    """

    class Status(models.TextChoices):
        OK = "ok", "Answered"
        ERROR = "error", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Not unique in SQL: a random uuid4 we make (never a client's), never looked up by value;
    # the graph's constraint on Message.uid is what relies on it. A unique index here cost
    # ~45 B and one more index write per logged turn (issue #17).
    question_uid = models.UUIDField(default=uuid.uuid4, editable=False)
    # db_index=False on both: the (conversation, position) and (user, -created_at) indexes
    # serve those lookups, and every index is one more write per logged turn.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="turns", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="turns", db_index=False
    )
    position = models.PositiveIntegerField(default=0)
    source = models.CharField(
        max_length=10, choices=Conversation.Source.choices, default=Conversation.Source.CHAT
    )
    question = models.TextField()
    answer = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OK)
    error = models.TextField(blank=True)

    # What produced the answer.
    # The three nullable foreign keys are indexed only where set (Meta.indexes): most turns
    # have none of them, and a full index holds a NULL entry per turn.
    prompt_template = models.ForeignKey(
        PromptTemplate,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="turns",
        db_index=False,
    )
    system_prompt = models.TextField(blank=True, help_text="The system message as sent")
    # Both read back exactly as sent; stored packed, each text once (chat.prompt_storage).
    rendered_context = RenderedContextField(blank=True, help_text="The context block as sent")
    prompt_messages = PromptMessagesField(
        default=list, blank=True, help_text="The exact messages sent to the model"
    )
    grounded = models.BooleanField(default=False)
    max_context_score = models.FloatField(null=True, blank=True)
    provider = models.CharField(max_length=40, blank=True)
    model = models.CharField(max_length=120, blank=True)
    params = models.JSONField(default=dict, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)

    topic = models.ForeignKey(
        Topic,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="turns",
        db_index=False,
    )
    replay_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replays",
        db_index=False,
    )
    external_user = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["conversation", "position"]
        indexes = [
            models.Index(fields=["conversation", "position"]),
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["model", "-created_at"]),
            # time order, the explorer's keyset pages (and any created_at range)
            models.Index(fields=["created_at", "id"], name="turn_created_id"),
            *(
                models.Index(
                    fields=[name],
                    condition=models.Q(**{f"{name}__isnull": False}),
                    name=f"turn_{name}_set",
                )
                for name in ("prompt_template", "topic", "replay_of")
            ),
        ]

    def __str__(self) -> str:
        return self.question[:80]

    def stored_prompt(self) -> dict:
        """{"prompt_messages", "rendered_context"} as sent (see `_stored_prompt`)."""
        return _stored_prompt(self)


class TurnContext(models.Model):
    """A context passage given to the model for a turn, with its rank and score.

    `text` and `source` are snapshots, so the exact prompt survives later edits to the
    knowledge base; `chunk` is set when the passage came from our own knowledge base.
    """

    # db_index=False: the unique (turn, rank) constraint's index leads with turn.
    turn = models.ForeignKey(
        Turn, on_delete=models.CASCADE, related_name="contexts", db_index=False
    )
    # Indexed only where set (Meta.indexes): passages sent through the API have no chunk.
    chunk = models.ForeignKey(
        "knowledge.Chunk",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="turn_contexts",
        db_index=False,
    )
    rank = models.PositiveIntegerField()
    score = models.FloatField(null=True, blank=True)
    text = models.TextField()
    source = models.CharField(max_length=1000, blank=True)
    title = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["turn", "rank"]
        constraints = [models.UniqueConstraint(fields=["turn", "rank"], name="context_turn_rank")]
        indexes = [
            models.Index(
                fields=["chunk"], condition=models.Q(chunk__isnull=False), name="context_chunk_set"
            )
        ]

    def __str__(self) -> str:
        return f"[{self.rank}] {self.title or self.source}"


class TopicMembership(models.Model):
    """A question belongs to a topic, by one method, with a score (0–1 where known).

    At most one topic per method per question: its keyword topic, its discovered topic and
    an expert's choice (manual), which discovery and keyword rules never overwrite.
    `Turn.topic` is the question's primary topic for filters — manual, else keyword, else
    discovered — kept in step by `chat.services.turn_topics_refresh`. The graph holds
    these rows as `(:Message)-[:ABOUT {method, score}]->(:Topic)`.
    """

    class Method(models.TextChoices):
        KEYWORD = "keyword", "Keyword rules"
        DISCOVERED = "discovered", "Discovered"
        MANUAL = "manual", "Chosen by an expert"

    turn = models.ForeignKey(
        Turn, on_delete=models.CASCADE, related_name="topic_memberships", db_index=False
    )
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="memberships")
    method = models.CharField(max_length=12, choices=Method.choices)
    score = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["turn", "method"], name="topic_membership_per_method")
        ]

    def __str__(self) -> str:
        return f"{self.turn_id} about {self.topic_id} ({self.method})"


PRIMARY_TOPIC_ORDER = (
    TopicMembership.Method.MANUAL,
    TopicMembership.Method.KEYWORD,
    TopicMembership.Method.DISCOVERED,
)


class Feedback(models.Model):
    """A user's thumbs up/down on an answer; one per user per turn, changeable."""

    class Rating(models.TextChoices):
        UP = "up", "Thumbs up"
        DOWN = "down", "Thumbs down"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="feedback",
    )
    rating = models.CharField(max_length=4, choices=Rating.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["turn", "user"], name="feedback_one_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.get_rating_display()} on {self.turn_id}"


class ApiToken(models.Model):
    """A Bearer token for the ingestion API. Only a SHA-256 of the token is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="The first characters, to tell tokens apart")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class IngestBatch(JobFields):
    """A batch the ingestion API accepted to store later (`Prefer: respond-async`): the
    validated interactions, ids assigned, kept here until a worker stores them as turns.

    The row is written, with its payload, before the 202 answer, so an accepted batch is
    never lost: its job (reviewhub.jobs) is re-sent or re-run by the sweeper until stored.
    Once stored, the payload is emptied; the row stays as the batch's status record."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Storing"
        STORED = "stored", "Stored"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ingest_batches"
    )
    # zlib of the interactions' JSON, as chat.openapi validates it (so the worker stores
    # exactly what was validated); empty once stored
    payload = models.BinaryField(default=b"")
    items = models.PositiveIntegerField(help_text="Interactions accepted")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    stored = models.PositiveIntegerField(default=0, help_text="Turns created")
    existing = models.PositiveIntegerField(default=0, help_text="Already stored (retries)")
    errors = models.JSONField(
        default=dict, blank=True, help_text='Items refused when stored: {"<index>.id": [...]}'
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.items} interactions, {self.get_status_display().lower()}"
