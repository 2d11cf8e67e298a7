"""LLM providers behind one streaming interface.

* `openai`: any OpenAI-compatible endpoint through the `openai` package (`OPENAI_BASE_URL`,
  `OPENAI_API_KEY`, models from `OPENAI_MODELS`), streamed, with a timeout
  (`OPENAI_TIMEOUT_S`) and the client's bounded retries with backoff (`OPENAI_MAX_RETRIES`).
* `offline`: always available; answers extractively from the retrieved passages (the sentences
  that share most words with the question). The UI labels it "offline model".

`complete(choice, messages, contexts=..., params=...)` returns a `Completion`: iterate it for text
deltas as they arrive; afterwards `text`, `prompt_tokens` and `completion_tokens` are set.
Provider failures raise `LLMError` (before or during iteration).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings

from knowledge.embedding import tokenize
from reviewhub import llm_client
from reviewhub.llm_client import LLMError

OFFLINE_MODEL = "offline-extractive"
DEFAULT_PARAMS = {"temperature": 0.2, "max_tokens": 600}
# Below this retrieval score a passage is treated as not about the question.
RELEVANCE_FLOOR = 0.12


@dataclass(frozen=True)
class ModelChoice:
    provider: str
    model: str
    # a registered model (chat.models.ModelEndpoint): its name, server and key variable
    endpoint: str = ""
    base_url: str = ""
    api_key_env: str = ""
    params: tuple = ()

    @property
    def key(self) -> str:
        return f"endpoint:{self.endpoint}" if self.endpoint else f"{self.provider}:{self.model}"

    @property
    def label(self) -> str:
        if self.endpoint:
            return self.endpoint
        return "Offline model (extractive)" if self.provider == "offline" else self.model

    @classmethod
    def of(cls, endpoint) -> ModelChoice:
        return cls(
            provider="openai",
            model=endpoint.model,
            endpoint=endpoint.name,
            base_url=endpoint.base_url,
            api_key_env=endpoint.api_key_env,
            params=tuple(sorted((endpoint.params or {}).items())),
        )


def available_models() -> list[ModelChoice]:
    """The models on offer; the default first (the OpenAI model when a key is set), then
    the registered models shown in chat, and the offline model last."""
    from chat.models import ModelEndpoint

    offline = ModelChoice("offline", OFFLINE_MODEL)
    registered = [ModelChoice.of(e) for e in ModelEndpoint.objects.filter(in_chat=True)]
    if not settings.OPENAI_API_KEY:
        return [*registered, offline]
    names = [settings.OPENAI_MODEL] + [
        m for m in settings.OPENAI_MODELS if m != settings.OPENAI_MODEL
    ]
    return [ModelChoice("openai", m) for m in names] + registered + [offline]


def resolve_model(key: str | None) -> ModelChoice:
    """The model for a form/API key like 'openai:gpt-4o-mini' or 'endpoint:<name>' (any
    registered model, also one not shown in chat); unknown keys raise ValueError."""
    from chat.models import ModelEndpoint

    if key and key.startswith("endpoint:"):
        endpoint = ModelEndpoint.objects.filter(name=key.removeprefix("endpoint:")).first()
        if endpoint is None:
            raise ValueError(f"unknown model {key!r}")
        return ModelChoice.of(endpoint)
    models = available_models()
    if not key:
        return models[0]
    for choice in models:
        if choice.key == key:
            return choice
    raise ValueError(f"unknown model {key!r}")


@dataclass
class Context:
    rank: int
    title: str
    text: str
    score: float | None = None


@dataclass
class Completion:
    deltas: Iterator[str]
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    _parts: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[str]:
        for delta in self.deltas:
            self._parts.append(delta)
            yield delta
        self.text = "".join(self._parts)

    @property
    def partial(self) -> str:
        """What has arrived so far (the whole text once iteration has finished)."""
        return "".join(self._parts)

    def collect(self) -> Completion:
        for _ in self:
            pass
        return self


def params_for(choice: ModelChoice) -> dict:
    """The parameters a turn is logged with: the defaults, the registered model's own,
    and (for a registered model) the model id its server was asked for."""
    params = {**DEFAULT_PARAMS, **dict(choice.params)}
    return params | {"model_id": choice.model} if choice.endpoint else params


def complete(
    choice: ModelChoice,
    messages: list[dict],
    *,
    contexts: list[Context] | None = None,
    params: dict | None = None,
    stream: bool = True,
) -> Completion:
    """`stream=False` asks the server for the whole answer at once (nobody is watching it
    arrive: experiments), which costs the client far less than parsing a chunk per word."""
    params = {**DEFAULT_PARAMS, **dict(choice.params), **(params or {})}
    if choice.provider == "openai":
        if not stream:
            return _openai_complete_whole(choice, messages, params)
        return _openai_complete(choice, messages, params)
    return _offline_complete(messages, contexts or [])


# --- openai ---------------------------------------------------------------------------------


def openai_client(choice: ModelChoice | None = None):
    """A client for the environment's OpenAI settings, or for a registered model's server
    (its key read from the environment variable it names, never from the database)."""

    if choice is None or not choice.endpoint:
        return llm_client.openai_client()  # the environment's, shared with embeddings
    key = os.environ.get(choice.api_key_env, "") if choice.api_key_env else ""
    if choice.api_key_env and not key:
        raise LLMError(
            f"The environment variable {choice.api_key_env}, which holds the key for "
            f"{choice.endpoint}, is not set."
        )
    # local servers (vLLM, Ollama) take any key
    return _client(
        key or "not-needed",
        choice.base_url or None,
        settings.OPENAI_TIMEOUT_S,
        settings.OPENAI_MAX_RETRIES,
    )


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def _client(key: str, base_url: str | None, timeout: float, retries: int):
    """One client (and its connection pool) per registered server and key: a new client per
    call cost ~2 ms of setup and a fresh connection each time. The client is thread-safe."""
    import openai

    cache_key = (key, base_url, timeout, retries)
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is None:
            client = openai.OpenAI(
                api_key=key, base_url=base_url, timeout=timeout, max_retries=retries
            )
            _clients[cache_key] = client
        return client


def _openai_complete_whole(choice: ModelChoice, messages: list[dict], params: dict) -> Completion:
    import openai

    try:
        response = openai_client(choice).chat.completions.create(
            model=choice.model,
            messages=messages,
            temperature=params["temperature"],
            max_tokens=params["max_tokens"],
        )
    except openai.OpenAIError as exc:
        raise LLMError(_describe(exc)) from exc
    text = "".join(c.message.content or "" for c in response.choices[:1])
    usage = response.usage
    return Completion(
        deltas=iter([text]),
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
    )


def _openai_complete(choice: ModelChoice, messages: list[dict], params: dict) -> Completion:
    import openai

    model = choice.model
    client = openai_client(choice)
    try:
        stream = client.chat.completions.create(
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            temperature=params["temperature"],
            max_tokens=params["max_tokens"],
        )
    except openai.OpenAIError as exc:
        raise LLMError(_describe(exc)) from exc
    completion = Completion(deltas=iter(()))

    def deltas() -> Iterator[str]:
        try:
            for chunk in stream:
                if chunk.usage is not None:
                    completion.prompt_tokens = chunk.usage.prompt_tokens
                    completion.completion_tokens = chunk.usage.completion_tokens
                for item in chunk.choices:
                    if item.delta and item.delta.content:
                        yield item.delta.content
        except openai.OpenAIError as exc:
            raise LLMError(_describe(exc)) from exc
        finally:
            stream.close()

    completion.deltas = deltas()
    return completion


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    return f"{name} (HTTP {status}): {exc}" if status else f"{name}: {exc}"


# --- offline ------------------------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n{2,}")


def _offline_complete(messages: list[dict], contexts: list[Context]) -> Completion:
    question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    answer = offline_answer(question, contexts)
    prompt_tokens = sum(len(m["content"].split()) for m in messages)
    completion = Completion(
        deltas=_words(answer), prompt_tokens=prompt_tokens, completion_tokens=len(answer.split())
    )
    return completion


def _words(text: str) -> Iterator[str]:
    for match in re.finditer(r"\S+\s*", text):
        yield match.group(0)


def offline_answer(question: str, contexts: list[Context]) -> str:
    """An extractive answer: the passage sentences that share most words with the question."""
    if not contexts:
        return (
            "I can only answer from the knowledge base, and grounding is off for this "
            "question, so I have nothing reliable to go on. Switch grounding on and ask again."
        )
    relevant = [c for c in contexts if c.score is None or c.score >= RELEVANCE_FLOOR]
    if not relevant:
        top = contexts[0]
        return (
            f"The knowledge base does not seem to cover this. The closest passage I found is "
            f"from *{top.title}* [{top.rank}], but it does not answer the question."
        )
    wanted = set(tokenize(question))
    candidates: list[tuple[int, int, str, set[str], Context]] = []
    seen: set[str] = set()
    for ctx in relevant:
        for position, sentence in enumerate(s.strip() for s in _SENTENCE.split(ctx.text)):
            words = set(tokenize(sentence))
            key = " ".join(sorted(words))
            if not words or sentence.startswith("#") or key in seen:  # overlapping chunks repeat
                continue
            seen.add(key)
            candidates.append((ctx.rank, position, sentence, words, ctx))
    # a question word found in few sentences says more than one found everywhere
    df = {w: sum(1 for c in candidates if w in c[3]) for w in wanted}
    scored: list[tuple[float, int, int, str, Context]] = []
    for rank, position, sentence, words, ctx in candidates:
        hit = sum(1.0 / df[w] for w in wanted & words)
        if hit:
            scored.append((hit + (ctx.score or 0) * 0.3, rank, position, sentence, ctx))
    if scored:
        top_score = max(row[0] for row in scored)
        scored = [row for row in scored if row[0] >= 0.5 * top_score]
    if not scored:
        top = relevant[0]
        first = next(
            (s for s in _SENTENCE.split(top.text) if s.strip() and not s.startswith("#")), top.text
        )
        return f"{first.strip()} [{top.rank}]"
    best = sorted(scored, key=lambda row: -row[0])[:3]
    best.sort(key=lambda row: (row[1], row[2]))  # read in document order
    lines = [f"{sentence} [{rank}]" for _, rank, _, sentence, _ in best]
    sources = sorted({(ctx.rank, ctx.title) for *_, ctx in best})
    cited = "; ".join(f"[{rank}] {title}" for rank, title in sources)
    return " ".join(lines) + f"\n\nSources: {cited}"
