"""Storing a turn's prompt with each text once (issue #17).

A logged prompt repeats texts the turn already stores: the system message is the system
prompt followed by the rendered context, whose passages are the turn's context rows; the last
user message is the question. Stored as sent, a grounded turn held its passages three or four
times. So `Turn.prompt_messages` is stored *packed*: each message is a list, its role then
the parts of its content —

* a string: literal text;
* ``0``: the turn's system prompt; ``-1``: its question; ``k >= 1``: the text of its context
  passage of rank k (`TurnContext.text`);
* a list (at most one in a prompt): the rendered context block, parts again; the turn's
  `rendered_context` column is then stored empty and read back from here.

An empty list means "the prompt is the production rule's default" (`production_default`:
system prompt, then the question), which is what API clients that send no messages get.
A literal prompt (old rows, and anything we cannot rebuild) is a list of {role, content}
objects with string contents. Rows packed before the list form keep {role, content} objects
whose content is a string or a list of parts; they are read alike. (`["system", 0, …]`
instead of `{"role": "system", "content": [0, …]}` is ~20 bytes less per message, which
decides how many turns fit in a page for a typical API interaction, issue #17.)

`pack` checks its own work: it unpacks what it built and keeps the literal prompt unless that
gives back exactly the messages and rendered context it was given, so a prompt read back is
always byte-identical to the one sent. No model imports here: chat.models uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

SYSTEM, QUESTION = 0, -1
# A reference costs a few bytes of JSON; shorter texts are not worth one.
MIN_REF = 24


@dataclass(frozen=True)
class Packed:
    """What goes into the `prompt_messages` and `rendered_context` columns."""

    prompt_messages: list
    rendered_context: str


def production_default(*, system_prompt: str, rendered_context: str, question: str) -> list[dict]:
    """The production prompt of a turn logged without messages: the system prompt with the
    rendered context appended (unless already in it), then the question."""
    system = system_prompt or ""
    if rendered_context and rendered_context not in system:
        system = "\n\n".join(part for part in (system, rendered_context) if part)
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": question}]


def is_packed(prompt_messages: object) -> bool:
    """False for a literal list of {role, content: str} messages (nothing to rebuild)."""
    if not isinstance(prompt_messages, list):
        return False
    if not prompt_messages:
        return True
    return any(
        not isinstance(m, dict) or not isinstance(m.get("content"), str) for m in prompt_messages
    )


def pack(
    *,
    messages: list[dict],
    system_prompt: str,
    rendered_context: str,
    question: str,
    passages: Mapping[int, str],
) -> Packed:
    """The columns to store for this prompt; `passages`: rank -> text of the context rows."""
    literal = Packed(messages, rendered_context)
    if not all(
        isinstance(m.get("content"), str) and set(m) == {"role", "content"} for m in messages
    ):
        return literal  # a shape we do not rebuild: stored as sent
    if not rendered_context and messages == production_default(
        system_prompt=system_prompt, rendered_context="", question=question
    ):
        return Packed([], "")
    refs = [(system_prompt, SYSTEM), (question, QUESTION), *((t, k) for k, t in passages.items())]
    refs = sorted(
        ((text, ref) for text, ref in refs if text and len(text) >= MIN_REF),
        key=lambda tr: -len(tr[0]),  # at the same place, the longest text wins
    )
    packed, block_used = [], False
    for message in messages:
        content = message["content"]
        at = content.find(rendered_context) if rendered_context and not block_used else -1
        if at >= 0:
            block_used = True
            block = _splice(rendered_context, refs) or [""]
            parts = [
                *_splice(content[:at], refs),
                block,
                *_splice(content[at + len(rendered_context) :], refs),
            ]
        else:
            parts = _splice(content, refs)
        packed.append([message["role"], *parts])
    result = Packed(packed, "" if block_used else rendered_context)
    rebuilt = unpack(
        prompt_messages=result.prompt_messages,
        system_prompt=system_prompt,
        rendered_context=result.rendered_context,
        question=question,
        passages=lambda: passages,
    )
    return result if rebuilt == (messages, rendered_context) else literal


def unpack(
    *,
    prompt_messages: list,
    system_prompt: str,
    rendered_context: str,
    question: str,
    passages: Callable[[], Mapping[int, str]],
) -> tuple[list[dict], str]:
    """(messages, rendered context) exactly as sent. `passages` is called only when a
    message refers to a passage (it may cost a query)."""
    if not is_packed(prompt_messages):
        return prompt_messages, rendered_context
    if not prompt_messages:
        default = production_default(
            system_prompt=system_prompt, rendered_context=rendered_context, question=question
        )
        return default, rendered_context
    texts = {SYSTEM: system_prompt, QUESTION: question}
    loaded: list = []

    def text(part) -> str:
        if isinstance(part, str):
            return part
        if part not in texts:
            if not loaded:
                loaded.append(True)
                texts.update(passages())
        return texts[part]

    messages, block = [], rendered_context
    for message in prompt_messages:
        if isinstance(message, list):
            role, content = message[0], message[1:]
        else:  # packed before the list form: {role, content: str | parts}
            role, content = message["role"], message["content"]
        if isinstance(content, list):
            pieces = []
            for part in content:
                if isinstance(part, list):
                    block = "".join(text(p) for p in part)
                    pieces.append(block)
                else:
                    pieces.append(text(part))
            content = "".join(pieces)
        messages.append({"role": role, "content": content})
    return messages, block


def _splice(text: str, refs: list[tuple[str, int]]) -> list:
    """`text` as parts: the known texts found in it (left to right) as references."""
    parts: list = []
    pos = 0
    live = refs
    while live:
        best = None
        still = []
        for known, ref in live:
            at = text.find(known, pos)
            if at < 0:
                continue  # not found from here on: never again
            still.append((known, ref))
            if best is None or at < best[0]:
                best = (at, known, ref)
        if best is None:
            break
        at, known, ref = best
        if at > pos:
            parts.append(text[pos:at])
        parts.append(ref)
        pos = at + len(known)
        live = still
    if pos < len(text):
        parts.append(text[pos:])
    return parts
