"""The "Hugging Face dataset" release format: Parquet per split, a dataset card, a zip.

Layout inside the release folder (what `hf upload` publishes as a dataset repository):

    hf/README.md                                   the card: YAML front matter + body
    hf/data/train-00000-of-00001.parquet           config "default": messages, example_id
    hf/data/validation-00000-of-00001.parquet
    hf/preference/train-00000-of-00001.parquet     config "preference" (corrected examples):
    hf/preference/validation-00000-of-00001.parquet   prompt, chosen, rejected, example_id
    hf_dataset.zip                                 the hf/ folder, for download

Columns follow TRL's documented conversational layouts: `messages` is a list of
{role, content} (language modelling / SFT); `prompt` is a list of messages ending with the
user's, `chosen` and `rejected` one assistant message each (preference / DPO). The
messages are the production prompt exactly as the snapshot holds it (the same rows as the
OpenAI chat file), so a later turn carries its earlier turns as the model saw them.

Bytes are deterministic, like every release file: rows in release order, a fixed row-group
size, fixed compression, no timestamps (Parquet carries none; its `created_by` names the
pinned pyarrow version, so a different pyarrow may write different bytes). The card is
rendered only from the release's definition and its build report (`report["card"]` freezes
at build time the facts that live elsewhere and could change: topic names, rubric,
agreement), so `export_release` re-renders it byte for byte. Zip entries are stored
uncompressed (Parquet is compressed already), in sorted order, dated 1980-01-01.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import orjson
from django.db.models import Exists, OuterRef

from datasets import exports
from datasets.models import Format, License, Release, ReleaseItem, Split

FOLDER = "hf"
CARD = f"{FOLDER}/README.md"
ZIP = "hf_dataset.zip"
# One row group per 1,000 rows: bounded memory while streaming, and small enough groups
# for the Hub's dataset viewer to page through.
ROW_GROUP = 1000
COMPRESSION = {"compression": "zstd", "compression_level": 3}
CONFIG_DIRS = {"default": "data", "preference": "preference"}
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
)


def parquet_name(config: str, split: str) -> str:
    return f"{FOLDER}/{CONFIG_DIRS[config]}/{split}-00000-of-00001.parquet"


def _pyarrow():
    """pyarrow, allocating through malloc rather than its bundled mimalloc, which kept
    the pages of every row group written and read back (the build's peak RSS 218 MB
    against 176 with malloc, 20,000 examples, the same CPU time), in a worker that lives
    on after the build. Process-wide, and pyarrow has no other user in our processes."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())
    return pa


def _schemas():
    pa = _pyarrow()

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    messages = pa.list_(message)
    return {
        "default": pa.schema([("messages", messages), ("example_id", pa.string())]),
        "preference": pa.schema(
            [
                ("prompt", messages),
                ("chosen", messages),
                ("rejected", messages),
                ("example_id", pa.string()),
            ]
        ),
    }


# --- the Parquet files ------------------------------------------------------------------


class _Shard:
    """One config's split: rows buffered as JSON lines up to a row group, then parsed by
    Arrow's JSON reader against the schema and appended to a temp file.

    The lines are the JSONL formats' own bytes (already checked and serialised), so a row
    costs a bytes join here. Building the columns from Python objects instead
    (`Table.from_pydict`) took a third of the format's time and made pyarrow import pandas
    (0.35 s and ~50 MB in a worker that never uses it); the JSON reader does neither, and
    the Parquet bytes are the same (tests/datasets/test_hf.py pins them)."""

    def __init__(self, folder: Path, config: str, split: str, schema):
        self.config, self.split, self.schema = config, split, schema
        self.name = parquet_name(config, split)
        self.final = folder / self.name
        self.tmp: Path | None = None
        self.writer = None
        self.lines: list[bytes] = []
        self.rows = 0

    def add(self, line: bytes, example_id: str) -> None:
        """`line` is a JSON object and a newline; the row is it with `example_id` added."""
        self.lines.append(line[:-2] + b',"example_id":' + orjson.dumps(example_id) + b"}")
        self.rows += 1
        if len(self.lines) >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.json as pa_json
        import pyarrow.parquet as pq

        if not self.lines:
            return
        if self.writer is None:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                dir=self.final.parent, prefix=f".{self.final.name}.", suffix=".tmp"
            )
            os.close(fd)
            self.tmp = Path(tmp)
            self.writer = pq.ParquetWriter(self.tmp, self.schema, **COMPRESSION)
        data = b"\n".join(self.lines)
        table = pa_json.read_json(
            pa.py_buffer(data),
            # One block for the whole group, read on this thread: the worker's other
            # thread has work of its own, and a group is a few hundred kilobytes.
            read_options=pa_json.ReadOptions(use_threads=False, block_size=len(data) + 1),
            parse_options=pa_json.ParseOptions(
                explicit_schema=self.schema, unexpected_field_behavior="error"
            ),
        )
        self.writer.write_table(table, row_group_size=ROW_GROUP)
        self.lines = []

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


# The layouts whose lines a Parquet row is: `default` the OpenAI chat line's messages,
# `preference` the TRL preference line.
KINDS = {"default": Format.OPENAI_CHAT, "preference": Format.TRL_PREFERENCE}


class ParquetWriter:
    """Takes the release's rows one at a time (from `exports.write_files`, with their
    judged OpenAI chat and TRL preference lines), writes the Parquet files under temporary
    names, reads them back to validate, then moves them into place. Rows a format's rules
    refuse are left out and counted, as in JSONL."""

    def __init__(self, folder: Path, limit: int, result: exports.WriteResult):
        self.folder, self.limit, self.result = folder, limit, result
        schemas = _schemas()
        self.shards = {
            (config, split): _Shard(folder, config, split, schemas[config])
            for config in CONFIG_DIRS
            for split in Split.values
        }
        self.multi_turn: Counter = Counter()

    def add(self, row: exports.Row, judged: dict[str, exports.Verdict | None]) -> None:
        fmt, result = Format.HF_DATASET, self.result
        example_id = exports.dashed_uuid(row.example_id)
        for config, kind in KINDS.items():
            verdict = judged[kind]
            if verdict is None or not exports.admit(fmt, verdict, row, self.limit, result):
                continue
            self.shards[(config, row.split)].add(verdict.data, example_id)
            # An assistant message in the prompt: the answer is a later turn.
            if config == "default" and any(m["role"] == "assistant" for m in row.messages):
                self.multi_turn[row.split] += 1

    def close(self) -> None:
        for shard in self.shards.values():
            shard.flush()
            shard.close()

    def check(self) -> None:
        """Read every file back: the schema, the row count, and each row's rules."""
        for shard in self.shards.values():
            if shard.tmp is not None:
                self.result.files.append(self._check(shard))

    def _check(self, shard: _Shard) -> exports.FileInfo:
        """Decode the whole file and check it column-wise (pyarrow.compute): the per-row
        rules ran in add(); this catches what writing could break, at C speed (a per-row
        Python re-validation took longer than writing the file)."""
        import pyarrow.parquet as pq

        errors = self.result.errors
        parquet = pq.ParquetFile(shard.tmp)
        problems, rows = [], 0
        if not parquet.schema_arrow.equals(shard.schema):
            problems.append(f"schema is {parquet.schema_arrow}")
        else:  # a row group at a time: memory stays flat however large the release
            for group in range(parquet.num_row_groups):
                table = parquet.read_row_group(group)
                rows += table.num_rows
                problems += _table_errors(shard.config, table)
                if problems:
                    break
        parquet.close()
        if not problems and rows != shard.rows:
            problems.append(f"wrote {shard.rows} rows, read back {rows}")
        errors += [f"{shard.name}: {p}" for p in problems[: max(0, 20 - len(errors))]]
        return exports.FileInfo(
            name=shard.name,
            format=Format.HF_DATASET,
            split=shard.split,
            lines=rows,
            bytes=shard.tmp.stat().st_size,
            sha256=exports.sha256_of(shard.tmp),
            config=shard.config,
        )

    def commit(self) -> None:
        for shard in self.shards.values():
            if shard.tmp is not None:
                os.replace(shard.tmp, shard.final)
        self.result.stats[Format.HF_DATASET] = {
            "multi_turn": {s: self.multi_turn[s] for s in Split.values}
        }

    def abort(self) -> None:
        for shard in self.shards.values():
            try:
                shard.close()
            except Exception:  # noqa: BLE001 - a half-written file is removed anyway
                pass
            if shard.tmp is not None:
                shard.tmp.unlink(missing_ok=True)


def _table_errors(config: str, table) -> list[str]:
    """The rules a row group must keep, checked on its arrays' offsets and values in
    Python (a pass over each text column, ~1 ms a group). Not with pyarrow.compute (its
    import: 0.07 s, ~9 MB) nor through numpy (`to_numpy` makes pyarrow import pandas:
    0.35 s, ~40 MB), in a worker that has no other use for either."""
    problems = []
    if config == "default":
        problems += _messages_errors(table, "messages", last="assistant")
    else:
        problems += _messages_errors(table, "prompt", last="user")
        for column in ("chosen", "rejected"):
            problems += _messages_errors(table, column, last="assistant", length=1)
        if not problems:
            chosen, rejected = _contents(table, "chosen"), _contents(table, "rejected")
            if any(a == b for a, b in zip(chosen, rejected, strict=True)):
                problems.append("a row's chosen and rejected are the same")
    if table.column("example_id").null_count:
        problems.append("a row has no example_id")
    return problems


def _contents(table, column: str) -> list:
    return _fields(table.column(column).combine_chunks())[1]


def _fields(lists) -> tuple[list, list]:
    """The roles and the contents of a list<struct<role, content>> array's messages
    (its values between its first and last offsets: `flatten` imports pyarrow.compute)."""
    offsets = lists.offsets
    first, last = offsets[0].as_py(), offsets[len(offsets) - 1].as_py()
    messages = lists.values.slice(first, last - first)
    return messages.field("role").to_pylist(), messages.field("content").to_pylist()


def _messages_errors(table, column: str, *, last: str, length: int | None = None) -> list[str]:
    """Every row of a list<struct<role, content>> column is a non-empty list of messages
    with known roles and non-blank contents, ending with `last`'s message."""
    lists = table.column(column).combine_chunks()
    if lists.null_count:
        return [f"{column}: {lists.null_count} rows are null"]
    offsets = lists.offsets.to_pylist()  # (to_numpy would make pyarrow import pandas)
    sizes = [end - start for start, end in zip(offsets[:-1], offsets[1:], strict=True)]
    low, high = (min(sizes), max(sizes)) if sizes else (None, None)
    if low == 0 or (length is not None and not low == high == length):
        return [f"{column}: a row has {low if low != length else high} messages"]
    roles, contents = _fields(lists)
    errors = []
    unknown = set(roles) - {"system", "user", "assistant"}
    if unknown:
        errors.append(f"{column}: unknown roles {sorted(map(str, unknown))}")
    if any(text is None or not text.strip() for text in contents):
        errors.append(f"{column}: a message has empty content")
    if {roles[end - offsets[0] - 1] for end in offsets[1:]} != {last}:  # each row's last
        errors.append(f"{column}: a row does not end with the {last}'s message")
    return errors


# --- facts for the card, frozen at build time ----------------------------------------------


def card_facts(release: Release, written: exports.WriteResult, counts: dict | None = None) -> dict:
    """What the card says that lives outside the release (topics, rubric, agreement,
    models), read once at build time and kept in the report so a rebuild of the card
    from the report is byte-identical even after those change. `counts` are the topics,
    models and mean scores the build counted as it went (`Snapshot.card_counts`); without
    them they are read from the stored items."""
    from annotations.models import Criterion, QueueItem, Review, Rubric
    from annotations.selectors import agreement
    from chat.models import Topic

    counts = counts or _item_counts(release)

    # "Its turn is in the release" as a correlated EXISTS (two index lookups per queue
    # item or review), and the rubric ids as a list: as joins nested in each query SQLite
    # took 1.2 s over these three at 20,000 items, as `IN (the release's turns)` 0.2 s
    # (it built the 20,000 turns first), now ~5 ms.
    def in_release(turn: str) -> Exists:
        items = ReleaseItem.objects.filter(release=release, example__turn_id=OuterRef(turn))
        return Exists(items)

    items = QueueItem.objects.filter(in_release("turn_id"))
    reviews = Review.objects.filter(in_release("item__turn_id")).order_by()
    rubric_ids = set(reviews.values_list("rubric_id", flat=True).distinct())
    rubrics = Rubric.objects.filter(id__in=rubric_ids).order_by("name", "version")
    criteria = Criterion.objects.filter(rubric_id__in=rubric_ids).order_by("position")
    by_rubric: dict[object, list] = defaultdict(list)  # per version: its own criteria
    for c in criteria:
        by_rubric[c.rubric_id].append(
            {"key": c.key, "label": c.label, "min": c.scale_min, "max": c.scale_max}
        )
    topic_ids = release.filters.get("topics") or []
    return {
        "topics": counts["topics"],
        "models": counts["models"],
        "mean_scores": counts["mean_scores"],
        "rubrics": [
            {
                "name": r.name,
                "version": r.version,
                "description": r.description,
                "criteria": by_rubric[r.id],
            }
            for r in rubrics
        ],
        "agreement": agreement(items=items),
        "filter_topics": sorted(
            Topic.objects.filter(id__in=topic_ids).values_list("name", flat=True)
        ),
        "multi_turn": written.stats.get(Format.HF_DATASET, {}).get("multi_turn", {}),
    }


def _item_counts(release: Release) -> dict:
    """`Snapshot.card_counts` from the stored items."""
    topics: dict[str, Counter] = defaultdict(Counter)
    models: Counter = Counter()
    score_sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    rows = ReleaseItem.objects.filter(release=release).values_list(
        "split", "model", "example__topic__name", "example__scores"
    )
    for split, model, topic, scores in rows.iterator(2000):
        topics[topic or ""][split] += 1
        models[model or ""] += 1
        for key, value in (scores or {}).items():
            if isinstance(value, int | float):
                score_sums[key][0] += value
                score_sums[key][1] += 1
    return {
        "topics": {name: dict(counts) for name, counts in topics.items()},
        "models": dict(models),
        "mean_scores": {k: round(s / n, 3) for k, (s, n) in score_sums.items() if n},
    }


# --- the card ------------------------------------------------------------------------------


def write_card(*, folder: Path, release: Release, report: dict) -> list[exports.FileInfo]:
    """Write hf/README.md from the release and its report, then the zip of hf/."""
    card = folder / CARD
    _write_atomic(card, render_card(release, report).encode("utf-8"))
    names = [CARD] + [f["name"] for f in _files(report) if f["format"] == Format.HF_DATASET]
    _write_zip(folder, names)
    return [_info(folder, CARD), _info(folder, ZIP)]


def _info(folder: Path, name: str) -> exports.FileInfo:
    path = folder / name
    return exports.FileInfo(
        name=name,
        format=Format.HF_DATASET,
        split="",
        lines=0,
        bytes=path.stat().st_size,
        sha256=exports.sha256_of(path),
    )


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_zip(folder: Path, files: list[str]) -> None:
    """The named files of hf/ (the card and the report's Parquet files, nothing else a
    folder may hold), at the zip's root, in sorted order."""
    root = folder / FOLDER
    names = sorted(name.removeprefix(f"{FOLDER}/") for name in files)
    final = folder / ZIP
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{ZIP}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name in names:
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.create_system = 3  # unix, whatever the host
                info.external_attr = 0o100644 << 16
                info.file_size = (root / name).stat().st_size
                with open(root / name, "rb") as src, zf.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _size_category(n: int) -> str:
    for limit, label in SIZE_CATEGORIES:
        if n < limit:
            return label
    return "n>1B"


def _files(report: dict) -> list[dict]:
    """The report's files without the card and the zip (which come after them)."""
    return sorted(
        (f for f in report.get("files", []) if f["name"] not in (CARD, ZIP)),
        key=lambda f: f["name"],
    )


def front_matter(release: Release, report: dict) -> dict:
    parquet = [f for f in _files(report) if f["format"] == Format.HF_DATASET]
    configs = []
    for config in CONFIG_DIRS:
        files = [f for f in parquet if f.get("config") == config]
        files.sort(key=lambda f: Split.values.index(f["split"]))
        if files:
            configs.append(
                {
                    "config_name": config,
                    "data_files": [{"split": f["split"], "path": _in_repo(f)} for f in files],
                }
            )
    examples = sum(f["lines"] for f in parquet if f.get("config") == "default")
    pairs = any(c["config_name"] == "preference" for c in configs)
    meta: dict = {"pretty_name": f"{release.name} v{release.version}"}
    if release.language:
        meta["language"] = [release.language]
    meta["license"] = release.license
    if release.license == License.OTHER:
        meta["license_name"] = "proprietary"
    meta["task_categories"] = ["text-generation"]
    meta["tags"] = ["reviewhub", "sft", "conversational"] + (["dpo", "preference"] if pairs else [])
    meta["size_categories"] = [_size_category(examples)]
    meta["annotations_creators"] = ["expert-generated"]
    # Questions from real users; answers from a model, corrected by experts where wrong.
    meta["language_creators"] = ["found", "machine-generated", "expert-generated"]
    meta["source_datasets"] = ["original"]
    meta["configs"] = configs
    return meta


def _in_repo(f: dict) -> str:
    return f["name"].removeprefix(f"{FOLDER}/")


def render_card(release: Release, report: dict) -> str:
    import yaml

    meta = yaml.safe_dump(
        front_matter(release, report), sort_keys=False, allow_unicode=True, width=100
    )
    return f"---\n{meta}---\n\n" + "\n".join(_body(release, report)) + "\n"


def _table(head: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _body(release: Release, report: dict) -> list[str]:
    facts = report.get("card", {})
    files = _files(report)
    parquet = [f for f in files if f["format"] == Format.HF_DATASET]
    rows = {(f.get("config"), f["split"]): f["lines"] for f in parquet}
    out = [f"# {release.name} v{release.version}", ""]
    if release.description:
        out += [release.description.strip(), ""]
    out += [
        "Supervised fine-tuning examples built from a support assistant's production "
        "conversations: each answer was reviewed by domain experts, and corrected where it "
        "was wrong, in ReviewHub. Every example is the prompt exactly as the model saw it in "
        "production (system prompt with the retrieved context, earlier turns, the user's "
        "question) followed by the approved answer.",
        "",
        f"ReviewHub release `{release.id}` ({release.name} v{release.version}).",
        "",
        "## Configurations",
        "",
        "- `default` — one column `messages`: a list of `{role, content}` messages "
        "(system, then user/assistant alternating), ending with the approved answer. This is "
        "TRL's conversational language-modelling layout (`SFTTrainer`).",
    ]
    if any(c == "preference" for c, _ in rows):
        out.append(
            "- `preference` — `prompt` (messages ending with the user's), `chosen` (the "
            "experts' correction) and `rejected` (the model's original answer), each a list "
            "of `{role, content}` messages: TRL's conversational preference layout "
            "(`DPOTrainer`)."
        )
    out += [
        "",
        "Both carry `example_id`, the ReviewHub example each row came from.",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'sft = load_dataset("ORG/NAME")  # or the path of this folder',
    ]
    if any(c == "preference" for c, _ in rows):
        out.append('pairs = load_dataset("ORG/NAME", "preference")')
    out += ["```", ""]
    out += _selection(release, facts)
    out += _counts(release, report, rows, facts)
    out += _cleaning(report)
    out += _review(facts)
    out += _models(facts)
    out += _hashes(files)
    out += _licence(release)
    return out


def _selection(release: Release, facts: dict) -> list[str]:
    f = release.filters
    rules = ["approved examples only (expert-reviewed; withdrawn approvals excluded)"]
    if f.get("date_from") or f.get("date_to"):
        rules.append(
            f"approved between {f.get('date_from', 'the start')} and {f.get('date_to', 'now')}"
        )
    if f.get("topics"):
        rules.append("topics: " + ", ".join(facts.get("filter_topics") or f["topics"]))
    if f.get("tags"):
        rules.append("tagged any of: " + ", ".join(f["tags"]))
    for key, minimum in sorted((f.get("min_scores") or {}).items()):
        rules.append(f"mean `{key}` score ≥ {minimum:g}")
    if f.get("grounded_only"):
        rules.append("grounded answers only (retrieved context was used)")
    if f.get("reviewers"):
        rules.append(f"reviewed by any of {len(f['reviewers'])} chosen reviewer(s)")
    return [
        "## How the examples were selected",
        "",
        *[f"- {rule}" for rule in rules],
        _split_rule(release),
        "- formats built: " + ", ".join(f"`{fmt}`" for fmt in release.formats),
        "",
    ]


def _split_rule(release: Release) -> str:
    if not release.validation_fraction:
        return "split: everything in train (validation fraction 0)"
    return (
        f"split: an example goes to validation when `sha256(seed:example_id)` mapped onto "
        f"[0, 1) is below {release.validation_fraction:g} (seed {release.seed}), else to train"
    )


def _counts(release: Release, report: dict, rows: dict, facts: dict) -> list[str]:
    counts = report.get("counts", {})
    multi = facts.get("multi_turn", {})
    splits = [s for s in Split.values if rows.get(("default", s))]
    table = [
        [
            s,
            rows.get(("default", s), 0),
            multi.get(s, 0),
            rows.get(("preference", s), 0),
        ]
        for s in splits
    ]
    total_multi = sum(multi.get(s, 0) for s in splits)
    total = sum(rows.get(("default", s), 0) for s in splits)
    out = [
        "## Counts",
        "",
        f"{counts.get('selected', 0)} approved examples matched the definition; "
        f"{counts.get('examples', 0)} remain after de-duplication, "
        f"{counts.get('corrected', 0)} of them corrected by the experts.",
        "",
        *_table(["split", "examples", "multi-turn", "preference pairs"], table),
        f"**{total_multi} of {total} examples are multi-turn**: the answer is from a later "
        "turn of a conversation, and the earlier turns are included exactly as the model "
        "saw them.",
        "",
    ]
    excluded = report.get("validation", {}).get("excluded", {}).get(Format.HF_DATASET, {})
    if excluded:
        left_out = ", ".join(f"{n} ({reason})" for reason, n in sorted(excluded.items()))
        out += [f"Left out by validation: {left_out}.", ""]
    topics = facts.get("topics", {})
    if topics:
        topic_rows = [
            [name or "(no topic)", *[c.get(s, 0) for s in Split.values]]
            for name, c in sorted(topics.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        ]
        out += ["### By topic", "", *_table(["topic", *Split.values], topic_rows)]
    return out


def _cleaning(report: dict) -> list[str]:
    dedup, pii = report.get("dedup", {}), report.get("pii", {})
    kinds = ("email", "phone", "card", "ip", "secret")
    return [
        "## De-duplication and PII scrubbing",
        "",
        f"- Duplicate questions dropped: {dedup.get('exact', 0)} exact, "
        f"{dedup.get('near', 0)} near-duplicate ({dedup.get('method', '')}).",
        f"- PII replaced by placeholders such as `[EMAIL]`: {pii.get('total', 0)} in all — "
        + ", ".join(f"{k} {pii.get(k, 0)}" for k in kinds)
        + f" ({pii.get('method', '')}).",
        "",
    ]


def _review(facts: dict) -> list[str]:
    out = ["## Review", ""]
    rubrics = facts.get("rubrics") or []
    if not rubrics:
        out += ["No rubric scores are recorded for these examples.", ""]
    for rubric in rubrics:
        out.append(
            f"Rubric **{rubric['name']}** v{rubric.get('version', 1)}"
            + (f": {rubric['description']}" * bool(rubric["description"]))
        )
        out.append("")
        out += _table(
            ["criterion", "label", "scale"],
            [[c["key"], c["label"], f"{c['min']}–{c['max']}"] for c in rubric["criteria"]],
        )
    means = facts.get("mean_scores") or {}
    if means:
        out += ["Mean scores over the examples in this dataset:", ""]
        out += _table(["criterion", "mean"], [[k, f"{v:g}"] for k, v in sorted(means.items())])
    a = facts.get("agreement") or {}
    if a.get("items"):

        def alpha(value) -> str:
            return "undefined (too few distinct values)" if value is None else f"{value:g}"

        out += [
            f"Inter-reviewer agreement (Krippendorff's alpha) over the {a['items']} examples "
            f"reviewed by two or more of {a['reviewers']} reviewers; on the verdicts "
            f"(nominal): {alpha(a.get('verdict_alpha'))}.",
            "",
            *_table(
                ["criterion", "alpha (ordinal)", "examples rated twice or more"],
                [[c["key"], alpha(c["alpha"]), c["units"]] for c in a.get("criteria", [])],
            ),
        ]
    else:
        out += ["No example in this dataset was reviewed twice, so no agreement figure.", ""]
    return out


def _models(facts: dict) -> list[str]:
    models = facts.get("models") or {}
    rows = [
        [m or "(not recorded)", n]
        for m, n in sorted(models.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return [
        "## Models that produced the original answers",
        "",
        *_table(["model", "examples"], rows),
    ]


def _hashes(files: list[dict]) -> list[str]:
    rows = [
        [f"`{f['name'].removeprefix(FOLDER + '/')}`", f["lines"], f["bytes"], f"`{f['sha256']}`"]
        for f in files
        if f["format"] == Format.HF_DATASET
    ]
    others = [
        [f"`{f['name']}`", f["lines"], f["bytes"], f"`{f['sha256']}`"]
        for f in files
        if f["format"] != Format.HF_DATASET
    ]
    out = ["## Files and hashes", "", "SHA-256 of each file, as in the release manifest.", ""]
    out += _table(["file", "rows", "bytes", "sha256"], rows)
    if others:
        out += ["The release's other files (not in this repository):", ""]
        out += _table(["file", "lines", "bytes", "sha256"], others)
    return out


def _licence(release: Release) -> list[str]:
    if release.license == License.OTHER:
        text = (
            "Proprietary: no licence to reuse or redistribute this data is granted. Ask the "
            "dataset's owner before using it outside the organisation that built it."
        )
    else:
        text = f"{release.get_license_display()} (`{release.license}`)."
    return ["## Licence", "", text]
