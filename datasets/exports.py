"""Fine-tuning file formats, their validation, and the streaming writer.

Each snapshot row becomes one line per format:

- openai_chat:   {"messages": [system…, user, (assistant, user)…, assistant]}
- openai_dpo:    {"input": {"messages": [system…, user, …, user]},
                  "preferred_output": [assistant correction],
                  "non_preferred_output": [assistant original]}   (corrected rows only)
- vertex_gemini: {"systemInstruction": {"parts": [{"text": …}]},
                  "contents": [{"role": "user"|"model", "parts": [{"text": …}]}, …]}
- trl_preference: {"prompt": [system…, user, …, user],
                   "chosen": [assistant correction], "rejected": [assistant original]}
                  (corrected rows only; TRL's conversational preference layout)
- hf_dataset:    Parquet files and a dataset card, written by `datasets.hf` from the same
                  rows (a `messages` column as openai_chat, pairs as trl_preference).

The system/user messages are the production messages exactly as the chat path sent them
(snapshotted, PII-scrubbed); the assistant message is the approved answer.

Bytes are deterministic: rows come in release order, JSON is written with sorted keys and
no whitespace, no timestamps. Every line is checked against its format's rules before it
is written (a line that fails is left out and counted); files are written under a
temporary name in the release's folder, read back (the file must hold exactly the bytes of
the checked lines: size, line count, SHA-256) and only then `os.replace`d to their final
names.

A row is judged once per layout (`_judge`: build, check, count tokens, serialise): the
Hugging Face dataset's rows are the OpenAI chat and TRL preference lines, so it takes
their verdicts and bytes instead of building and checking them again. At 20,000 examples
the checks ran four times per row (before writing, after reading back, and again for the
Parquet rows) and were the largest part of writing.

Tokens are counted offline, without a tokenizer download: ceil(UTF-8 bytes / 3) per
message content plus 4 per message and 3 per example. BPE tokenizers average about 4
characters per token on English text, so bytes/3 over-counts English by roughly a quarter
and counts a CJK character (3 bytes) as one token — a conservative upper estimate, so an
example that passes here fits the provider's real limit. Limits are per format
(`settings.RELEASE_TOKEN_LIMITS`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import orjson
from django.conf import settings

from datasets.models import Format, Split

DUMP_OPTS = orjson.OPT_SORT_KEYS
DEFAULT_TOKEN_LIMITS = {
    Format.OPENAI_CHAT: 65_536,
    Format.OPENAI_DPO: 65_536,
    Format.VERTEX_GEMINI: 32_768,
    Format.TRL_PREFERENCE: 65_536,
    Format.HF_DATASET: 65_536,
}
# Provider recommendations (a warning below these; fewer than 10 examples is an error).
RECOMMENDED_MIN = {
    Format.OPENAI_CHAT: (50, "OpenAI recommends 50–100 examples or more"),
    Format.OPENAI_DPO: (50, "OpenAI recommends 50–100 preference pairs or more"),
    Format.VERTEX_GEMINI: (100, "Google recommends 100–500 examples or more"),
    # TRL publishes no minimum; the same order of magnitude as OpenAI's guidance.
    Format.TRL_PREFERENCE: (50, "preference tuning wants 50–100 pairs or more"),
    Format.HF_DATASET: (50, "supervised fine-tuning wants 50–100 examples or more"),
}
# Formats that are pairs (a correction against the original answer).
PAIR_FORMATS = (Format.OPENAI_DPO, Format.TRL_PREFERENCE)
MIN_EXAMPLES = 10


def token_limits() -> dict[str, int]:
    return {**DEFAULT_TOKEN_LIMITS, **getattr(settings, "RELEASE_TOKEN_LIMITS", {})}


def file_name(fmt: str, split: str) -> str:
    return f"{split}.{fmt}.jsonl"


# --- building one line ------------------------------------------------------------------


class Row(NamedTuple):
    example_id: str
    split: str
    messages: list  # production messages: [{"role", "content"}, …], ending with the user's
    answer: str
    original_answer: str
    corrected: bool


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def build_openai_chat(row: Row) -> dict:
    return {"messages": [*row.messages, _assistant(row.answer)]}


def build_openai_dpo(row: Row) -> dict | None:
    if not row.corrected:
        return None
    return {
        "input": {"messages": list(row.messages)},
        "preferred_output": [_assistant(row.answer)],
        "non_preferred_output": [_assistant(row.original_answer)],
    }


def build_trl_preference(row: Row) -> dict | None:
    if not row.corrected:
        return None
    return {
        "prompt": list(row.messages),
        "chosen": [_assistant(row.answer)],
        "rejected": [_assistant(row.original_answer)],
    }


def build_vertex_gemini(row: Row) -> dict:
    system, contents = [], []
    for m in row.messages:
        if m["role"] == "system" and not contents:
            system.append({"text": m["content"]})
        else:
            role = "model" if m["role"] == "assistant" else m["role"]
            contents.append({"role": role, "parts": [{"text": m["content"]}]})
    contents.append({"role": "model", "parts": [{"text": row.answer}]})
    line: dict = {"contents": contents}
    if system:
        line["systemInstruction"] = {"parts": system}
    return line


BUILDERS: dict[str, Callable[[Row], dict | None]] = {
    Format.OPENAI_CHAT: build_openai_chat,
    Format.OPENAI_DPO: build_openai_dpo,
    Format.VERTEX_GEMINI: build_vertex_gemini,
    Format.TRL_PREFERENCE: build_trl_preference,
}


# --- rules per format -------------------------------------------------------------------


def _text_ok(value) -> bool:
    # isspace() stops at the first non-space character; strip() would copy the text.
    return type(value) is str and value != "" and not value.isspace()


def _chat_errors(messages, *, last: str) -> list[str]:
    """System messages only at the start, then user/assistant alternating from user."""
    if type(messages) is not list or not messages:
        return ["messages is not a non-empty list"]
    errors: list[str] = []
    expected, started = "user", False
    for i, m in enumerate(messages):
        if type(m) is not dict or len(m) != 2 or "role" not in m or "content" not in m:
            return [f"message {i} is not {{role, content}}"]
        role = m["role"]
        if not _text_ok(m["content"]):
            errors.append(f"message {i} ({role}) has empty content")
        if role == "system" and not started:
            continue
        started = True
        if role != expected:
            errors.append(f"message {i} is {role!r}, expected {expected!r}")
            break
        expected = "assistant" if expected == "user" else "user"
    if not started:
        errors.append("no user message")
    elif messages[-1]["role"] != last:
        errors.append(f"last message is {messages[-1]['role']!r}, expected {last!r}")
    return errors


def errors_openai_chat(line) -> list[str]:
    if type(line) is not dict or len(line) != 1 or "messages" not in line:
        return ["line is not {messages}"]
    return _chat_errors(line["messages"], last="assistant")


def errors_openai_dpo(line) -> list[str]:
    keys = {"input", "preferred_output", "non_preferred_output"}
    if not isinstance(line, dict) or set(line) != keys:
        return ["line is not {input, preferred_output, non_preferred_output}"]
    if not isinstance(line["input"], dict) or set(line["input"]) != {"messages"}:
        return ["input is not {messages}"]
    errors = _chat_errors(line["input"]["messages"], last="user")
    return errors + _pair_errors(line, "preferred_output", "non_preferred_output")


def errors_trl_preference(line) -> list[str]:
    """TRL's conversational preference layout: prompt ending with the user's message,
    chosen and rejected one assistant message each."""
    if not isinstance(line, dict) or set(line) != {"prompt", "chosen", "rejected"}:
        return ["line is not {prompt, chosen, rejected}"]
    errors = _chat_errors(line["prompt"], last="user")
    return errors + _pair_errors(line, "chosen", "rejected")


def _pair_errors(line: dict, *keys: str) -> list[str]:
    errors: list[str] = []
    outputs = []
    for key in keys:
        out = line[key]
        if (
            not isinstance(out, list)
            or len(out) != 1
            or not isinstance(out[0], dict)
            or out[0].get("role") != "assistant"
            or set(out[0]) != {"role", "content"}
        ):
            errors.append(f"{key} is not one assistant message")
            continue
        if not _text_ok(out[0]["content"]):
            errors.append(f"{key} has empty content")
        outputs.append(out[0]["content"])
    if len(outputs) == 2 and outputs[0] == outputs[1]:
        errors.append("preferred and non-preferred outputs are the same")
    return errors


def _parts_error(parts) -> str | None:
    """What is wrong with a list of parts, else None (the caller says where: formatting
    that per content of every line cost more than the check)."""
    if not isinstance(parts, list) or not parts:
        return "has no parts"
    for part in parts:
        if (
            not isinstance(part, dict)
            or len(part) != 1
            or "text" not in part
            or not _text_ok(part["text"])
        ):
            return "has an empty or malformed part"
    return None


_VERTEX_KEYS = frozenset(("systemInstruction", "contents"))


def errors_vertex_gemini(line) -> list[str]:
    if not isinstance(line, dict) or not line.keys() <= _VERTEX_KEYS:
        return ["line is not {systemInstruction?, contents}"]
    errors: list[str] = []
    if "systemInstruction" in line:
        si = line["systemInstruction"]
        if not isinstance(si, dict) or len(si) != 1 or "parts" not in si:
            errors.append("systemInstruction is not {parts}")
        elif problem := _parts_error(si["parts"]):
            errors.append(f"systemInstruction {problem}")
    contents = line.get("contents")
    if not isinstance(contents, list) or not contents:
        return [*errors, "contents is not a non-empty list"]
    expected = "user"
    for i, c in enumerate(contents):
        if not isinstance(c, dict) or len(c) != 2 or "role" not in c or "parts" not in c:
            return [*errors, f"contents[{i}] is not {{role, parts}}"]
        if c["role"] != expected:
            errors.append(f"contents[{i}] is {c['role']!r}, expected {expected!r}")
            break
        if problem := _parts_error(c["parts"]):
            errors.append(f"contents[{i}] {problem}")
        expected = "model" if expected == "user" else "user"
    if contents[-1].get("role") != "model":
        errors.append("last content is not the model's")
    return errors


VALIDATORS: dict[str, Callable[[object], list[str]]] = {
    Format.OPENAI_CHAT: errors_openai_chat,
    Format.OPENAI_DPO: errors_openai_dpo,
    Format.VERTEX_GEMINI: errors_vertex_gemini,
    Format.TRL_PREFERENCE: errors_trl_preference,
}


def _texts(fmt: str, line: dict) -> list[str]:
    if fmt == Format.OPENAI_CHAT:
        return [m["content"] for m in line["messages"]]
    if fmt == Format.OPENAI_DPO:
        return [m["content"] for m in line["input"]["messages"]] + [
            line["preferred_output"][0]["content"],
            line["non_preferred_output"][0]["content"],
        ]
    if fmt == Format.TRL_PREFERENCE:
        return [m["content"] for m in (*line["prompt"], *line["chosen"], *line["rejected"])]
    texts = [p["text"] for c in line["contents"] for p in c["parts"]]
    return texts + [p["text"] for p in line.get("systemInstruction", {}).get("parts", [])]


def count_tokens(texts: Iterable[str]) -> int:
    """Conservative offline token count (see the module docstring)."""
    total = 3
    for text in texts:
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
        total += 4 + -(-size // 3)
    return total


# --- the writer ---------------------------------------------------------------------------


@dataclass
class FileInfo:
    name: str
    format: str
    split: str
    lines: int
    bytes: int
    sha256: str
    config: str = ""  # a Hugging Face dataset's config ("default", "preference"); "" else

    def as_dict(self) -> dict:
        info = {
            "name": self.name,
            "format": self.format,
            "split": self.split,
            "lines": self.lines,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }
        if self.config:
            info["config"] = self.config
        return info

    @property
    def counts_as_examples(self) -> bool:
        """A split's file of the format's main examples (not a card, zip or pair config)."""
        return bool(self.split) and self.config in ("", "default")


@dataclass
class WriteResult:
    files: list[FileInfo] = field(default_factory=list)
    excluded: dict[str, Counter] = field(default_factory=dict)  # format -> reason -> n
    excluded_examples: dict[str, list[str]] = field(default_factory=dict)
    max_tokens: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    stats: dict[str, dict] = field(default_factory=dict)  # format -> facts for its card

    def lines(self, fmt: str) -> int:
        return sum(f.lines for f in self.files if f.format == fmt and f.counts_as_examples)


class ExportInvalid(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:5]))
        self.errors = errors


class _Out:
    def __init__(self, folder: Path, fmt: str, split: str):
        self.fmt, self.split, self.name = fmt, split, file_name(fmt, split)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.name}.", suffix=".tmp")
        self.tmp = Path(tmp)
        # 256 KB a file: a build writes 8 at once (four layouts, two splits); 1 MB each held
        # 8 MB for no measurable gain in time.
        self.fh = os.fdopen(fd, "wb", buffering=1 << 18)
        self.digest = hashlib.sha256()  # of what was written, to compare with the file
        self.lines = self.size = 0

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.digest.update(data)
        self.size += len(data)
        self.lines += 1


def write_files(
    *,
    folder: Path,
    formats: Iterable[str],
    rows: Iterable[Row],
    on_progress: Callable[[int], None] | None = None,
    progress_every: int = 2000,
) -> WriteResult:
    """Stream rows into one file per format and split; validate; move into place.

    Nothing is held in memory per row beyond the lines being written (and a Parquet row
    group). If anything fails (an exception from `rows`, a disk error, an invalid line) no
    final file is created by this call and the temporary files are removed.
    """
    formats = [f for f in Format.values if f in set(formats)]  # stable order
    folder.mkdir(parents=True, exist_ok=True)
    limits = token_limits()
    result = WriteResult(
        excluded={f: Counter() for f in formats},
        excluded_examples={f: [] for f in formats},
        max_tokens={f: 0 for f in formats},
    )
    jsonl = [f for f in formats if f in BUILDERS]
    kinds = set(jsonl)
    outs = {(f, s): _Out(folder, f, s) for f in jsonl for s in Split.values}
    # Formats that are folders of their own (Parquet) take rows through add(); imported
    # only when asked for, so a JSONL-only build does not load pyarrow.
    writers = []
    if Format.HF_DATASET in formats:
        from datasets import hf

        writers.append(hf.ParquetWriter(folder, limits[Format.HF_DATASET], result))
        kinds |= set(hf.KINDS.values())
    try:
        done = 0
        for row in rows:
            judged = {kind: _judge(kind, row) for kind in kinds}
            for fmt in jsonl:
                verdict = judged[fmt]
                if verdict is not None and admit(fmt, verdict, row, limits[fmt], result):
                    outs[(fmt, row.split)].write(verdict.data)
            for writer in writers:
                writer.add(row, judged)
            done += 1
            if on_progress and done % progress_every == 0:
                on_progress(done)
        for out in outs.values():
            out.fh.close()
        for writer in writers:
            writer.close()
        for out in outs.values():
            _check_file(out, result)
        for writer in writers:
            writer.check()
        if result.errors:
            raise ExportInvalid(result.errors)
        for out in outs.values():
            final = folder / out.name
            if out.lines:
                os.replace(out.tmp, final)
            else:  # a split with no lines gets no file
                out.tmp.unlink()
        for writer in writers:
            writer.commit()
    except BaseException:
        for out in outs.values():
            out.fh.close()
            out.tmp.unlink(missing_ok=True)
        for writer in writers:
            writer.abort()
        raise
    if on_progress:
        on_progress(done)
    result.files = [f for f in result.files if f.lines]
    return result


class Verdict(NamedTuple):
    """A row's line in one layout: its bytes (JSON and a newline) when it passes the
    layout's rules, else the first rule it breaks; its token count."""

    data: bytes
    reason: str | None
    tokens: int


def _judge(kind: str, row: Row) -> Verdict | None:
    """Build `kind`'s line for the row, check it, count its tokens and serialise it; None
    when the layout has no line for the row (a pair format and an uncorrected row)."""
    line = BUILDERS[kind](row)
    if line is None:
        return None
    errors = VALIDATORS[kind](line)
    if errors:
        return Verdict(b"", errors[0], 0)
    tokens = count_tokens(_texts(kind, line))
    return Verdict(orjson.dumps(line, option=DUMP_OPTS | orjson.OPT_APPEND_NEWLINE), None, tokens)


def admit(fmt: str, verdict: Verdict, row: Row, limit: int, result: WriteResult) -> bool:
    """Whether a judged line passes its rules and `fmt`'s token limit; a line that does
    not is counted and sampled under `fmt` in the result."""
    reason = verdict.reason
    if reason is None:
        if verdict.tokens > limit:
            reason = f"over the {limit}-token limit"
        elif verdict.tokens > result.max_tokens[fmt]:
            result.max_tokens[fmt] = verdict.tokens
    if reason:
        result.excluded[fmt][_reason_kind(reason)] += 1
        if len(result.excluded_examples[fmt]) < 50:
            result.excluded_examples[fmt].append(f"{_uuid(row.example_id)}: {reason}")
        return False
    return True


def dashed_uuid(value: str) -> str:
    """A UUID as text in its dashed form, from the dashed form or 32 hex digits (what
    SQLite gives for a UUID cast to text), without building a UUID object."""
    if len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value


def _uuid(value: str) -> str:
    try:  # SQLite gives a UUID cast to text as 32 hex digits
        return str(uuid.UUID(value))
    except ValueError:
        return value


def _reason_kind(reason: str) -> str:
    if "empty" in reason:
        return "empty content"
    if "token" in reason:
        return "too many tokens"
    return "roles out of order"


def _check_file(out: _Out, result: WriteResult) -> None:
    """Read the written file back: it must hold exactly the checked lines' bytes (their
    size, count and SHA-256 as they were written), so every line on disk passed its
    format's rules."""
    digest, size, lines = hashlib.sha256(), 0, 0
    with open(out.tmp, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
    if (size, lines) != (out.size, out.lines) or digest.digest() != out.digest.digest():
        result.errors.append(
            f"{out.name}: wrote {out.lines} lines ({out.size} bytes), read back {lines} "
            f"lines ({size} bytes){' with other bytes' * (size == out.size)}"
        )
    result.files.append(FileInfo(out.name, out.fmt, out.split, lines, size, digest.hexdigest()))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
