"""Release writes: define, build, approve, reject, publish, new version.

A build runs outside one big transaction (it can be long); it is idempotent and starts
from scratch every time (items deleted, the release folder emptied), so a redelivered or
retried task is harmless. The release becomes `built` only in the final transaction, after
every file is in place under its final name.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import shutil
import subprocess
from contextlib import contextmanager
from functools import lru_cache

import orjson
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from datasets import exports, hf, selectors
from datasets.models import Format, License, Release, ReleaseItem
from outbox.services import record
from reviewhub import jobs
from reviewhub.preferences import preference

logger = logging.getLogger(__name__)
EDITABLE = (Release.State.DRAFT, Release.State.FAILED)


class ReleaseError(Exception):
    """A request the release's state or definition does not allow (shown to the user);
    `messages` holds every problem when there are several (a definition's preview errors)."""

    def __init__(self, *messages: str):
        super().__init__(messages[0] if messages else "")
        self.messages = list(messages)


class BuildError(Exception):
    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report or {}


# --- definition ------------------------------------------------------------------------


def normalise_filters(filters: dict) -> dict:
    """A canonical filters dict: sorted lists, no empty values (stable in the manifest)."""
    out: dict = {}
    for key in ("date_from", "date_to"):
        if filters.get(key):
            out[key] = str(filters[key])
    for key in ("topics", "tags", "reviewers"):
        if filters.get(key):
            out[key] = sorted({str(v) if key != "reviewers" else int(v) for v in filters[key]})
    if filters.get("min_scores"):
        out["min_scores"] = {k: float(v) for k, v in sorted(filters["min_scores"].items())}
    if filters.get("eval_scores"):
        out["eval_scores"] = str(filters["eval_scores"]).strip()
    if filters.get("grounded_only"):
        out["grounded_only"] = True
    return out


@transaction.atomic
def release_create(
    *,
    user,
    name: str,
    version: int,
    filters: dict,
    validation_fraction: float = 0.1,
    seed: int = 0,
    formats: list[str],
    description: str = "",
    license: str = License.OTHER,
    language: str = "",
    build: bool = False,
) -> Release:
    """A draft release; with `build`, also queue its build (all or nothing)."""
    if Release.objects.filter(name=name, version=version).exists():
        raise ReleaseError(f"{name} v{version} already exists; a change needs a new version.")
    if not formats or not set(formats) <= set(Format.values):
        raise ReleaseError("Choose at least one known format.")
    if not 0 <= validation_fraction <= 0.5:
        raise ReleaseError("The validation fraction must be between 0 and 0.5.")
    if license not in License.values:
        raise ReleaseError("Choose a licence from the list.")
    release = Release.objects.create(
        name=name,
        version=version,
        description=description,
        filters=normalise_filters(filters),
        validation_fraction=validation_fraction,
        seed=seed,
        formats=[f for f in Format.values if f in formats],
        license=license,
        language=language,
        created_by=user,
    )
    if build:
        release_request_build(release=release, user=user)
    return release


@transaction.atomic
def release_update(*, release: Release, **definition) -> Release:
    """Change a draft's definition. Refused from `building` on: a change is a new version."""
    locked = Release.objects.select_for_update().get(id=release.id)
    if locked.state not in EDITABLE:
        raise ReleaseError(
            f"{locked} is {locked.get_state_display().lower()}; make a new version to change it."
        )
    allowed = {
        "description",
        "filters",
        "validation_fraction",
        "seed",
        "formats",
        "license",
        "language",
    }
    if set(definition) - allowed:
        raise ReleaseError(f"Cannot change {sorted(set(definition) - allowed)}.")
    if "filters" in definition:
        definition["filters"] = normalise_filters(definition["filters"])
    for key, value in definition.items():
        setattr(locked, key, value)
    locked.save(update_fields=[*definition])
    return locked


@transaction.atomic
def release_new_version(*, release: Release, user) -> Release:
    """A draft copying this release's definition, with the next version number."""
    return Release.objects.create(
        name=release.name,
        version=selectors.next_version(release.name),
        description=release.description,
        filters=release.filters,
        validation_fraction=release.validation_fraction,
        seed=release.seed,
        formats=release.formats,
        license=release.license,
        language=release.language,
        created_by=user,
    )


# --- building ----------------------------------------------------------------------------


@transaction.atomic
def release_request_build(*, release: Release, user, enqueue: bool = True) -> None:
    """Mark a draft or failed release `building` and queue the build task (the demo
    passes enqueue=False and calls `release_build` itself)."""

    counts = selectors.preview(
        release.filters, validation_fraction=release.validation_fraction, seed=release.seed
    )
    if counts["errors"]:
        raise ReleaseError(*counts["errors"])
    claimed = Release.objects.filter(id=release.id, state__in=EDITABLE).update(
        state=Release.State.BUILDING,
        built_by=user,
        built_at=None,
        error="",
        report={},
        manifest={},
        progress_stage="queued",
        progress_done=0,
        progress_total=0,
        heartbeat_at=None,
        lease_owner="",
        queued_at=None,
        attempts=0,
        job_note="",
    )
    if not claimed:
        raise ReleaseError(f"{release} cannot be built in its current state.")
    if enqueue:
        jobs.job_enqueue_on_commit(release)


def release_build(*, release_id) -> None:
    """Build a release that is in `building` (the task's body; also called by the demo).

    The claim is a compare-and-set on the release's lease: a duplicate or redelivered
    message, or one for a release already built or failed, does nothing."""
    release = jobs.job_claim(Release, release_id)
    if release is None:
        return
    try:
        _build(release)
    except jobs.LeaseLost:
        logger.warning("release %s: another run took over this build", release.id)
    except (OperationalError, InterfaceError):
        jobs.job_give_back(release, retried=True)  # the database is away: the retry claims it
        raise
    except BuildError as exc:
        _fail(release, str(exc), exc.report)
    except Exception as exc:
        logger.exception("release %s build failed", release.id)
        _fail(release, f"{type(exc).__name__}: {exc}", {})


def _fail(release: Release, message: str, report: dict) -> None:
    jobs.job_rows(release).update(
        state=Release.State.FAILED, error=message, report=report, heartbeat_at=timezone.now()
    )


def _fail_rows(rows, reason: str) -> int:
    """The sweeper's verdict on builds whose worker vanished too often."""
    return rows.update(state=Release.State.FAILED, error=reason, heartbeat_at=timezone.now())


def release_cleanup_temp_files(release: Release) -> int:
    """Remove the temporary export files (`.<name>.*.tmp`) a killed build left behind."""
    removed = 0
    for path in selectors.release_folder(release).glob(".*.tmp"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


RELEASE_BUILD_JOB = jobs.JobKind(
    model="datasets.Release",
    task="datasets.tasks.build_release",
    active=Q(state=Release.State.BUILDING),
    fail=_fail_rows,
    cleanup=release_cleanup_temp_files,
)


def _progress(release: Release, stage: str, done: int, total: int | None = None) -> None:
    fields = {"progress_stage": stage, "progress_done": done}
    if total is not None:
        fields["progress_total"] = total
    jobs.job_heartbeat(release, **fields)


@contextmanager
def _gc_paused():
    """No cyclic garbage collection during the snapshot and file pass: it allocates a few
    small containers per example that live to the end (dedup buckets, scrub memo), and
    the collector re-scanned them over and over — ~20% of the build's CPU at 20,000
    examples. The pass makes no reference cycles worth collecting early."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(release: Release) -> None:
    folder = selectors.release_folder(release)
    shutil.rmtree(folder, ignore_errors=True)  # from scratch: no file of an earlier try
    folder.mkdir(parents=True)
    ReleaseItem.objects.filter(release=release).delete()

    matching = selectors.examples_matching(release.filters)
    selected = matching.count()
    _progress(release, "selecting", 0, total=selected)
    if selected < exports.MIN_EXAMPLES:
        raise BuildError(
            f"A release needs at least {exports.MIN_EXAMPLES} examples; "
            f"the filters select {selected}."
        )
    # Here, not with the module: the web process imports this module for its views, and
    # the snapshot brings the PII scrubber's phonenumbers (~3 MB) that only a build uses.
    from datasets.snapshot import Snapshot, TooFewKept

    snap = Snapshot(release, expected=selected)
    rows = snap.rows(
        matching, on_progress=lambda n: _progress(release, "snapshotting and writing", n)
    )
    try:
        with _gc_paused():
            written = exports.write_files(folder=folder, formats=release.formats, rows=rows)
    except TooFewKept:
        summary = snap.summary()
        raise BuildError(
            f"A release needs at least {exports.MIN_EXAMPLES} examples; {snap.kept} remain "
            "after tag filters and dedup.",
            {"dedup": summary["dedup"], "pii": summary["pii"]},
        ) from None
    except exports.ExportInvalid as exc:
        summary = snap.summary()
        raise BuildError(
            "Validation failed: " + str(exc),
            {
                "validation": {"errors": exc.errors, "warnings": []},
                "dedup": summary["dedup"],
                "pii": summary["pii"],
            },
        ) from exc
    report = _report(release, snap.summary(), written)
    if Format.HF_DATASET in release.formats:
        _progress(release, "writing the dataset card", selected)
        report["card"] = hf.card_facts(release, written, snap.card_counts())
        card_files = hf.write_card(folder=folder, release=release, report=report)
        report["files"] += [f.as_dict() for f in card_files]
    _finish(release, report, written)


def iter_rows(release: Release):
    """Snapshot rows in release order, as the writer wants them (JSON parsed by orjson)."""
    rows = (
        ReleaseItem.objects.filter(release=release)
        .order_by("position")
        # Text casts skip Django's per-row JSON and UUID converters (orjson parses here).
        .annotate(
            messages_text=Cast("messages", TextField()),
            example_text=Cast("example_id", TextField()),
        )
        .values_list(
            "example_text", "split", "messages_text", "answer", "original_answer", "corrected"
        )
    )
    loads, row = orjson.loads, exports.Row
    for example_id, split, messages, answer, original, corrected in rows.iterator(2000):
        yield row(example_id, split, loads(messages), answer, original, corrected)


def _report(release: Release, snap: dict, written: exports.WriteResult) -> dict:
    errors, warnings = [], []
    for fmt in release.formats:
        n = written.lines(fmt)
        minimum, text = exports.RECOMMENDED_MIN[fmt]
        if n < exports.MIN_EXAMPLES:
            warnings.append(f"{fmt}: only {n} lines — providers need at least 10 to train.")
        elif n < minimum:
            warnings.append(f"{fmt}: {n} lines — {text}.")
        for reason, count in sorted(written.excluded[fmt].items()):
            warnings.append(f"{fmt}: {count} example(s) left out ({reason}).")
    limits = exports.token_limits()
    return {
        "counts": {
            **snap["counts"],
            "files": {
                fmt: {
                    f.split: f.lines
                    for f in written.files
                    if f.format == fmt and f.counts_as_examples
                }
                for fmt in release.formats
            },
        },
        "validation": {
            "errors": errors,
            "warnings": warnings,
            "excluded": {fmt: dict(c) for fmt, c in written.excluded.items()},
            "excluded_examples": written.excluded_examples,
            "tokens": {
                fmt: {"max": written.max_tokens[fmt], "limit": limits[fmt]}
                for fmt in release.formats
            },
            "token_counting": "ceil(UTF-8 bytes / 3) per content + 4 per message + 3 "
            "(conservative offline estimate)",
        },
        "dedup": snap["dedup"],
        "pii": snap["pii"],
        "files": [f.as_dict() for f in written.files],
        # as traffic was at build time (the manifest is rebuilt on each transition)
        "topic_balance": selectors.topic_balance(release, counted=snap["balance"]),
    }


@transaction.atomic
def _finish(release: Release, report: dict, written: exports.WriteResult) -> None:
    now = timezone.now()
    done = jobs.job_rows(release).update(
        state=Release.State.BUILT,
        built_at=now,
        report=report,
        error="",
        progress_stage="done",
        progress_done=F("progress_total"),
        heartbeat_at=now,
    )
    if not done:
        return
    release.refresh_from_db()
    Release.objects.filter(id=release.id).update(manifest=build_manifest(release))
    record("release", [release.id])


# --- review of a built release -----------------------------------------------------------


def _transition(release: Release, *, user, from_state: str, to_state: str, **fields) -> Release:
    locked = Release.objects.select_for_update().get(id=release.id)
    if locked.state != from_state:
        raise ReleaseError(f"{locked} is {locked.get_state_display().lower()}, not {from_state}.")
    locked.state = to_state
    for key, value in fields.items():
        setattr(locked, key, value)
    locked.save(update_fields=["state", *fields])
    locked.manifest = build_manifest(locked)
    locked.save(update_fields=["manifest"])
    record("release", [locked.id])  # every transition reaches the graph
    return locked


@transaction.atomic
def release_approve(*, release: Release, user) -> Release:
    from reviewhub.roles import is_lead

    if not is_lead(user):
        raise ReleaseError("Only a lead can approve a release.")
    if preference("release_four_eyes") and release.built_by_id == user.id:
        raise ReleaseError("Four eyes: a release is approved by a lead other than its builder.")
    return _transition(
        release,
        user=user,
        from_state=Release.State.BUILT,
        to_state=Release.State.APPROVED,
        approved_by=user,
        approved_at=timezone.now(),
    )


@transaction.atomic
def release_reject(*, release: Release, user) -> Release:
    from reviewhub.roles import is_lead

    if not is_lead(user):
        raise ReleaseError("Only a lead can reject a release.")
    return _transition(
        release,
        user=user,
        from_state=Release.State.BUILT,
        to_state=Release.State.REJECTED,
        rejected_by=user,
        rejected_at=timezone.now(),
    )


@transaction.atomic
def release_publish(*, release: Release, user) -> Release:
    from reviewhub.roles import is_lead

    if not is_lead(user):
        raise ReleaseError("Only a lead can publish a release.")
    return _transition(
        release,
        user=user,
        from_state=Release.State.APPROVED,
        to_state=Release.State.PUBLISHED,
        published_by=user,
        published_at=timezone.now(),
    )


# --- the manifest ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def code_version() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return "git:" + out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "reviewhub " + getattr(settings, "REVIEWHUB_VERSION", "0.1 (no git checkout)")


def _who(user) -> str | None:
    return user.username if user else None


def _when(moment) -> str | None:
    return moment.isoformat() if moment else None


def _split_ids(release: Release) -> dict:
    """The validation split's example ids and their hash: the held-out questions an
    experiment measures a fine-tuned model on, exactly and reproducibly."""
    ids = [
        str(pk)
        for pk in release.items.filter(split="validation")
        .order_by("position")
        .values_list("example_id", flat=True)
    ]
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    return {"validation": {"count": len(ids), "sha256": digest, "example_ids": ids}}


def build_manifest(release: Release) -> dict:
    report = release.report or {}
    previous = selectors.previous_release(release)
    return {
        "release": {
            "id": str(release.id),
            "name": release.name,
            "version": release.version,
            "description": release.description,
            "state": release.state,
        },
        "definition": {
            "filters": release.filters,
            "formats": release.formats,
            "license": release.license,
            "language": release.language,
            "validation_fraction": release.validation_fraction,
            "seed": release.seed,
            "split": "sha256(seed:example_id) < fraction",
        },
        "counts": report.get("counts", {}),
        "split_ids": _split_ids(release),
        "topic_balance": report.get("topic_balance", {}),
        "files": report.get("files", []),
        "validation": report.get("validation", {}),
        "dedup": report.get("dedup", {}),
        "pii": report.get("pii", {}),
        "built_by": _who(release.built_by),
        "built_at": _when(release.built_at),
        "approved_by": _who(release.approved_by),
        "approved_at": _when(release.approved_at),
        "published_by": _who(release.published_by),
        "published_at": _when(release.published_at),
        "previous_version": previous.version if previous else None,
        "code_version": code_version(),
    }
