"""The LLM judge: any OpenAI-compatible model through the `openai` package.

The prompt is the evaluator version's template with `{question}`, `{passages}` (the context
passages exactly as the model was given them, with their ranks), `{answer}`, `{reference}`
(the expert's corrected answer, when one exists) and `{criteria}` replaced — plain
replacement, not `str.format`, so a template can show JSON braces. The model is asked for JSON
(`response_format={"type": "json_object"}`, temperature 0):

    {"scores": {"<criterion>": {"score": <number on its scale>, "reason": "<short>"}}}

Failures are data, never exceptions: a timeout (`EVAL_JUDGE_TIMEOUT_S`), an HTTP error
(429 and 5xx retried; 4xx other than 429 not), or malformed JSON (not JSON, a criterion missing,
a score off its scale) is retried up to `EVAL_JUDGE_MAX_ATTEMPTS` times in all, with
exponential backoff from `EVAL_JUDGE_BACKOFF_S` capped at `EVAL_JUDGE_BACKOFF_MAX_S` (a 429's
Retry-After is honoured within the cap), then returned as an outcome with `error` set, which
the caller stores on the score rows. The client's own retries are off so every attempt is
counted here.

The judge model is a model id on the environment's OpenAI settings (default
`EVAL_JUDGE_MODEL`) or "endpoint:<name>", a model leads registered (chat.models.ModelEndpoint).

`judge_many` runs up to `EVAL_JUDGE_CONCURRENCY` calls at once in threads (the calls are I/O;
the database is touched only by the caller, in its own thread).
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings

DEFAULT_PROMPT = """You are an exacting reviewer of answers produced by an assistant that must \
answer only from the passages it was given.

### Question
{question}

### Passages
{passages}

### Answer
{answer}

### Expert's corrected answer
{reference}

### Criteria
{criteria}

Score the answer on each criterion, using only the passages and, when given, the expert's
corrected answer. Reply with JSON only, in exactly this shape:
{"scores": {"<criterion key>": {"score": <number>, "reason": "<one short sentence>"}}}
"""

DEFAULT_CRITERIA = [
    {"key": "correctness", "label": "Factually correct", "scale_min": 1, "scale_max": 5},
    {"key": "groundedness", "label": "Supported by the passages", "scale_min": 1, "scale_max": 5},
]
PLACEHOLDERS = ("{question}", "{passages}", "{answer}", "{reference}", "{criteria}")
RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class JudgeInput:
    question: str
    answer: str
    passages: tuple[tuple[int, str, str], ...] = ()  # (rank, title, text)
    reference: str = ""


@dataclass
class Outcome:
    scores: dict[str, tuple[float, str]] = field(default_factory=dict)
    error: str = ""
    latency_ms: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    attempts: int = 0


class Malformed(Exception):
    pass


def render(template: str, criteria: list[dict], item: JudgeInput) -> str:
    passages = "\n\n".join(
        f"[{rank}] {title}\n{text}".strip() for rank, title, text in item.passages
    )
    lines = "\n".join(
        f"- {c['key']}: {c.get('label') or c['key']} ({c['scale_min']} to {c['scale_max']})"
        for c in criteria
    )
    values = {
        "{question}": item.question,
        "{passages}": passages or "(no passages were given)",
        "{answer}": item.answer,
        "{reference}": item.reference or "(none)",
        "{criteria}": lines,
    }
    return re.sub(r"\{(question|passages|answer|reference|criteria)\}", _sub(values), template)


def _sub(values: dict[str, str]):
    return lambda m: values[m.group(0)]


def parse(content: str, criteria: list[dict]) -> dict[str, tuple[float, str]]:
    """The scores from the judge's reply; raises Malformed with a message for the record."""
    text = content.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", text, re.S)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except ValueError:
        raise Malformed(f"the judge did not reply with JSON: {content[:120]!r}") from None
    scores = data.get("scores") if isinstance(data, dict) else None
    if not isinstance(scores, dict):
        raise Malformed('the reply has no "scores" object')
    out = {}
    for c in criteria:
        raw = scores.get(c["key"])
        value, reason = (
            (raw.get("score"), raw.get("reason", "")) if isinstance(raw, dict) else (raw, "")
        )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Malformed(f"no numeric score for {c['key']!r}")
        if not c["scale_min"] <= value <= c["scale_max"]:
            raise Malformed(
                f"{c['key']} = {value} is off its {c['scale_min']}–{c['scale_max']} scale"
            )
        out[c["key"]] = (float(value), str(reason)[:1000])
    return out


def connect(model: str) -> tuple[object, str]:
    """(client, model id) for a judge model: "endpoint:<name>" is a model leads registered
    (chat.models.ModelEndpoint: its server and key variable); anything else is a model id on
    the environment's OpenAI settings (empty: EVAL_JUDGE_MODEL). Raises ValueError or
    chat.llm.LLMError with a message when it cannot be reached."""
    from chat import llm

    choice = llm.resolve_model(model) if model.startswith("endpoint:") else None
    api = llm.openai_client(choice).with_options(
        timeout=settings.EVAL_JUDGE_TIMEOUT_S, max_retries=0
    )
    return api, choice.model if choice else (model or settings.EVAL_JUDGE_MODEL)


def judge_one(
    item: JudgeInput, *, template: str, criteria: list[dict], model: str, api=None
) -> Outcome:
    """One judgement. `model` is a model id on `api`, or (without `api`) what `connect`
    takes."""
    import openai

    outcome = Outcome()
    if api is None:
        try:
            api, model = connect(model)
        except Exception as exc:  # LLMError, ValueError: not reachable, said in words
            outcome.error = f"no judge model: {exc}"
            return outcome
    prompt = render(template or DEFAULT_PROMPT, criteria, item)
    started = time.monotonic()
    for attempt in range(1, settings.EVAL_JUDGE_MAX_ATTEMPTS + 1):
        outcome.attempts = attempt
        wait = None
        try:
            response = api.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": prompt}],
                temperature=0,
                response_format={"type": "json_object"},
            )
            if response.usage is not None:
                outcome.prompt_tokens = response.usage.prompt_tokens
                outcome.completion_tokens = response.usage.completion_tokens
            outcome.scores = parse(response.choices[0].message.content or "", criteria)
            outcome.error = ""
            break
        except Malformed as exc:
            outcome.error = f"malformed reply: {exc}"
        except openai.APITimeoutError:
            outcome.error = f"timed out after {settings.EVAL_JUDGE_TIMEOUT_S:g} s"
        except openai.APIStatusError as exc:
            outcome.error = f"HTTP {exc.status_code}: {exc.message}"[:500]
            if exc.status_code not in RETRYABLE_STATUS:
                break
            wait = _retry_after(exc)
        except openai.OpenAIError as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"[:500]
        if attempt < settings.EVAL_JUDGE_MAX_ATTEMPTS:
            backoff = settings.EVAL_JUDGE_BACKOFF_S * 2 ** (attempt - 1)
            time.sleep(
                min(settings.EVAL_JUDGE_BACKOFF_MAX_S, wait if wait is not None else backoff)
            )
    outcome.latency_ms = int((time.monotonic() - started) * 1000)
    return outcome


def _retry_after(exc) -> float | None:
    try:
        return float(exc.response.headers.get("retry-after"))
    except (TypeError, ValueError, AttributeError):
        return None


def judge_many(
    items: list[JudgeInput], *, template: str, criteria: list[dict], model: str
) -> list[Outcome]:
    """Judge every item, `EVAL_JUDGE_CONCURRENCY` calls in flight at once; order kept."""
    if not items:
        return []
    try:
        api, model = connect(model)
    except Exception as exc:  # LLMError, ValueError: not reachable, said in words
        return [Outcome(error=f"no judge model: {exc}") for _ in items]
    workers = max(1, min(settings.EVAL_JUDGE_CONCURRENCY, len(items)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(
            pool.map(
                lambda item: judge_one(
                    item, template=template, criteria=criteria, model=model, api=api
                ),
                items,
            )
        )
