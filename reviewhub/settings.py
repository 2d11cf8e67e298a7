"""ReviewHub settings: everything comes from the environment, with safe local defaults.

Unset variables give the embedded defaults (SQLite file, a broker that needs no
server, the embedded Bolt graph server, the offline LLM). A bad value stops
start-up with a message naming the variable.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import dj_database_url

from reviewhub.env import (
    ImproperEnv,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_proxy_header,
    env_str,
    env_url,
    secret_key_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("REVIEWHUB_VAR_DIR") or BASE_DIR / "var")

# pytest imports the settings before any conftest can set variables, so the test
# run isolates itself here: its own SQLite file, broker folder and queue per
# process, which lets several test runs share one machine (and one Redis).
TESTING = "pytest" in sys.modules
TEST_RUN_ID = str(os.getpid())

# Every process writes under var/ (SQLite, broker, beat schedule, secret key, cache),
# whichever database is configured.
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Off unless developing (`make dev` sets DEBUG=true): `make run` behaves like the product.
DEBUG = env_bool("DEBUG", default=False)
# Generated once into var/ (0600) when not given; several hosts must share one SECRET_KEY.
SECRET_KEY = env_str("SECRET_KEY") or secret_key_file(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "outbox",
    "accounts",
    "knowledge",
    "chat",
    "annotations",
    "evaluation",
    "topics",
    "graph",
    "datasets",
    "experiments",
    "workspace",
    "reviewhub",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "reviewhub.security.ContentSecurityPolicyMiddleware",
    # Static files straight from the app (no proxy needed), before sessions and auth.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "reviewhub.urls"
WSGI_APPLICATION = "reviewhub.wsgi.application"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
# Login attempts per username + client address (accounts/ratelimit.py): after this many
# failures in the window, even the right password is refused until the window passes.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
LOGIN_FAILURE_WINDOW_S = env_int("LOGIN_FAILURE_WINDOW_S", 900, minimum=1)
# Behind N proxies that append to X-Forwarded-For, the client is the N-th address from the
# right; 0 (direct) uses the socket's address. Trusting more hops than exist lets clients lie.
FORWARDED_FOR_PROXIES = env_int("FORWARDED_FOR_PROXIES", 0, minimum=0)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reviewhub.roles.roles_context",
                "workspace.context.inbox",
            ],
        },
    }
]

# --- system of record -------------------------------------------------------
DATABASE_URL = env_url("DATABASE_URL", {"postgres", "postgresql", "sqlite"})
# Threads per web process (reviewhub/gunicorn_conf.py reads the same variable): a request
# holds at most one database connection, so this sizes each process's pool.
WEB_THREADS = env_int("WEB_THREADS", 8, minimum=1)
if DATABASE_URL:
    try:
        _db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
    except Exception as exc:  # dj_database_url raises several types
        raise ImproperEnv(f"DATABASE_URL is not usable: {exc}") from None
else:
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "reviewhub.sqlite3"}
if _db["ENGINE"] == "django.db.backends.postgresql" and env_bool("DB_POOL", default=not TESTING):
    # psycopg's pool, one per process, sized to the server's threads: connections stay
    # bounded (processes x DB_POOL_MAX_SIZE) and are reused instead of opened per request.
    # A thread that finds the pool empty waits up to DB_POOL_TIMEOUT_S, then fails clearly.
    # (Persistent connections with a thread per request reached 95 of 100 under 10 clients.)
    _db["OPTIONS"] = {
        "pool": {
            "min_size": env_int("DB_POOL_MIN_SIZE", 1, minimum=0),
            "max_size": env_int("DB_POOL_MAX_SIZE", WEB_THREADS, minimum=1),
            "timeout": env_float("DB_POOL_TIMEOUT_S", 10.0),
            "max_idle": 300.0,
        },
        "connect_timeout": env_int("DB_CONNECT_TIMEOUT_S", 5, minimum=1),
    }
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db["OPTIONS"] = {"connect_timeout": env_int("DB_CONNECT_TIMEOUT_S", 5, minimum=1)}
# SQLite: bytes per page of a new database file. 16 KB pages: a 500-interaction ingestion
# request 47 -> 40.5 ms in process (fewer, fuller pages to split and write; issue #17).
SQLITE_PAGE_SIZE = env_int("SQLITE_PAGE_SIZE", 16384, minimum=512)
if SQLITE_PAGE_SIZE > 65536 or SQLITE_PAGE_SIZE & (SQLITE_PAGE_SIZE - 1):
    raise ImproperEnv(f"SQLITE_PAGE_SIZE={SQLITE_PAGE_SIZE} must be a power of two, 512 to 65536")
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout: the web server and the worker write the same file. A new
    # database gets 16 KB pages (SQLite's default is 4 KB; the size is fixed when the file is
    # first written, so it comes before WAL, and an existing file keeps its own).
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            f"PRAGMA page_size={SQLITE_PAGE_SIZE}; PRAGMA journal_mode=WAL; "
            "PRAGMA synchronous=NORMAL;"
        ),
    }
    # A connection per thread, kept between requests (no pool on SQLite): closing the last
    # connection to the file checkpoints the whole WAL into it and deletes it, and opening
    # one reads the schema again; per request that was ~14 ms of a 500-interaction ingestion
    # request on disk (issue #17). Each kept connection holds its page cache (≤ 2 MB).
    _db["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE_S", 600, minimum=0)
# SQLite: seconds between WAL checkpoints run by a thread of each process (0: in the commits,
# SQLite's default); see reviewhub/sqlite_wal.py.
SQLITE_CHECKPOINT_S = env_float("SQLITE_CHECKPOINT_S", 1.0)
if TESTING:
    # A file (not :memory:) so the Celery worker started by the tests sees the same data.
    if _db["ENGINE"] == "django.db.backends.sqlite3":
        (VAR_DIR / "test" / TEST_RUN_ID).mkdir(parents=True, exist_ok=True)
        _db["TEST"] = {"NAME": str(VAR_DIR / "test" / TEST_RUN_ID / "db.sqlite3")}
    else:
        _db["TEST"] = {"NAME": f"test_reviewhub_{TEST_RUN_ID}"}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- task queue -------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", {"redis", "rediss"})
CELERY_QUEUE = env_str("REVIEWHUB_QUEUE") or (
    f"reviewhub-test-{TEST_RUN_ID}" if TESTING else "reviewhub"
)
BROKER_DIR = Path(
    env_str("REVIEWHUB_BROKER_DIR")
    or (VAR_DIR / "test" / TEST_RUN_ID / "broker" if TESTING else VAR_DIR / "broker")
)
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # Short socket timeouts: an unreachable Redis fails a publish in about a second at
    # worst (a refused port: at once), instead of blocking a request.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        "socket_connect_timeout": 1.0,
        "socket_timeout": 5.0,
    }
else:
    # Kombu's filesystem transport: a real worker in another process, no server. The host
    # means nothing to it, but without one kombu logs "No hostname was supplied" on every
    # connection it clones (each process that sends a task).
    for _sub in ("queue", "processed", "control"):
        (BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://localhost/"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),  # kombu's default is ./control
        "store_processed": False,
    }
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE
# Separate queues so workers on other hosts can take one kind of work each (README,
# "Production"). Each defaults to the one queue, so `make run`'s single worker takes all.
CELERY_QUEUE_GRAPH = env_str("CELERY_QUEUE_GRAPH") or CELERY_QUEUE
CELERY_QUEUE_EVALUATION = env_str("CELERY_QUEUE_EVALUATION") or CELERY_QUEUE
CELERY_QUEUE_RELEASES = env_str("CELERY_QUEUE_RELEASES") or CELERY_QUEUE
CELERY_TASK_ROUTES = {
    "graph.*": {"queue": CELERY_QUEUE_GRAPH},
    "evaluation.*": {"queue": CELERY_QUEUE_EVALUATION},
    "experiments.*": {"queue": CELERY_QUEUE_EVALUATION},
    "datasets.*": {"queue": CELERY_QUEUE_RELEASES},
}
CELERY_RESULT_BACKEND = None  # progress lives on our own rows, not in a result backend
CELERY_TASK_IGNORE_RESULT = True
# Reliability defaults. acks_late is switched on per task, only for idempotent ones.
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360, minimum=1)
CELERY_TASK_RETRY_BACKOFF_MAX = env_int("CELERY_TASK_RETRY_BACKOFF_MAX", 300, minimum=1)
CELERY_TASK_MAX_RETRIES = env_int("CELERY_TASK_MAX_RETRIES", 8, minimum=0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Enqueue after commit must not hold a request for long when the broker is away: a short
# connection timeout and one quick publish retry (kombu's default policy, 3 retries at
# 0/0.2/0.4 s, cost every write ~620 ms). After a failure the breaker in
# reviewhub/celery.py refuses publishes for BROKER_BREAKER_S (doubling, capped at
# BROKER_BREAKER_MAX_S); the job rows wait and the sweeper below sends them.
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 1.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.05,
    "interval_max": 0.05,
}
BROKER_BREAKER_S = env_float("BROKER_BREAKER_S", 5.0)
BROKER_BREAKER_MAX_S = env_float("BROKER_BREAKER_MAX_S", 60.0)
# Recoverable jobs (reviewhub/jobs.py): a run that has not sent a heartbeat for
# JOB_LEASE_S is taken for dead; a message queued JOB_RESEND_AFTER_S ago and never
# claimed is taken for lost. The sweeper runs every JOB_SWEEP_INTERVAL_S.
JOB_LEASE_S = env_float("JOB_LEASE_S", 120.0)
JOB_RESEND_AFTER_S = env_float("JOB_RESEND_AFTER_S", 600.0)
JOB_SWEEP_INTERVAL_S = env_float("JOB_SWEEP_INTERVAL_S", 30.0)
CELERY_BEAT_SCHEDULE: dict = {
    "jobs-sweep": {"task": "reviewhub.tasks.jobs_sweep", "schedule": JOB_SWEEP_INTERVAL_S},
}

# --- graph ------------------------------------------------------------------
GRAPH_BOLT_PORT = env_int("GRAPH_BOLT_PORT", 7687, minimum=1)
GRAPH_HTTP_PORT = env_int("GRAPH_HTTP_PORT", 2480, minimum=1)
GRAPH_PASSWORD = env_str("GRAPH_PASSWORD", "reviewhub-graph")
GRAPH_DATABASE = env_str("GRAPH_DATABASE", "reviewhub")
GRAPH_DATA_DIR = Path(env_str("GRAPH_DATA_DIR") or VAR_DIR / "graph")
# The embedded server's JVM (graph/server.py), sized for a laptop: the wheel's default is a
# 4 GB heap with a page cache of a quarter of it. bench/bench_stack.py measures the stack.
GRAPH_JVM_DEFAULTS = " ".join(
    [
        "-XX:+UseSerialGC",  # one collector thread and no G1 region bookkeeping (~40 MB)
        # C1 only: no C2 compiler arenas (~25 MB); measured as fast on the sync's writes,
        # and it warms up sooner (the first batch of a fresh server: 4.0 s against 6.0 s).
        "-XX:TieredStopAtLevel=1",
        "-Xss512k",  # thread stacks (the Bolt and HTTP servers start dozens of threads)
        "-XX:ReservedCodeCacheSize=64m",
        "-XX:MaxDirectMemorySize=64m",
        # malloc_trim every second (JDK 21+): the graph process's peak in the 20k stack bench
        # 258-259 MB against 263-264, the whole stack 556-565 MB (4 runs) against 568-594 (3)
        "-XX:TrimNativeHeapInterval=1000",
    ]
)
# 128m: a drain of 6,000 API turns runs as fast as with 160m (graph CPU 8.6 s against
# 9.1-9.3 s) and the live heap after a young collection is ~40-60 MB, page cache included;
# the server's RSS 257 MB against 303 (96m also ran, with full collections every second).
GRAPH_HEAP = env_str("GRAPH_HEAP", "128m")
if not re.fullmatch(r"[1-9][0-9]*[kKmMgG]", GRAPH_HEAP):
    raise ImproperEnv(f"GRAPH_HEAP={GRAPH_HEAP!r} is not a JVM size such as 256m or 1g")
GRAPH_PAGE_CACHE_MB = env_int("GRAPH_PAGE_CACHE_MB", 32, minimum=0)  # 0: a quarter of the heap
GRAPH_JVM_ARGS = env_str("GRAPH_JVM_ARGS", GRAPH_JVM_DEFAULTS)
NEO4J_URL = env_url("NEO4J_URL", {"bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"})
GRAPH_EMBEDDED = not NEO4J_URL
if GRAPH_EMBEDDED:
    NEO4J_URL = f"bolt://root:{GRAPH_PASSWORD}@127.0.0.1:{GRAPH_BOLT_PORT}/{GRAPH_DATABASE}"
# The outbox drain is enqueued on commit; these catch leftovers and repair drift.
CELERY_BEAT_SCHEDULE["graph-maintenance"] = {
    "task": "graph.tasks.graph_maintenance",
    "schedule": env_float("GRAPH_RECONCILE_INTERVAL_S", 900.0),
}
CELERY_BEAT_SCHEDULE["chat-assign-topics"] = {
    "task": "chat.tasks.assign_topics",
    "schedule": 600.0,
}
CELERY_BEAT_SCHEDULE["chat-prune-ingest-batches"] = {
    "task": "chat.tasks.prune_ingest_batches",
    "schedule": 86400.0,
}
# Topic discovery (topics.tasks): a lead can also run it from the topics page.
CELERY_BEAT_SCHEDULE["topics-discover"] = {
    "task": "topics.tasks.discover_topics_scheduled",
    "schedule": env_float("TOPICS_DISCOVER_INTERVAL_S", 86400.0),
}

# /healthz reports a part that has not answered by then as down (reviewhub/health.py).
HEALTH_TIMEOUT_S = env_float("HEALTH_TIMEOUT_S", 2.5)

# --- LLM --------------------------------------------------------------------
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_url("OPENAI_BASE_URL", {"http", "https"})
OPENAI_MODEL = env_str("OPENAI_MODEL", "gpt-4o-mini")
OPENAI_MODELS = env_list("OPENAI_MODELS", [OPENAI_MODEL])
OPENAI_TIMEOUT_S = env_float("OPENAI_TIMEOUT_S", 30.0)
OPENAI_MAX_RETRIES = env_int("OPENAI_MAX_RETRIES", 2, minimum=0)
OPENAI_EMBEDDING_MODEL = env_str("OPENAI_EMBEDDING_MODEL", "text-embedding-3-small")
LLM_PROVIDER = "openai" if OPENAI_API_KEY else "offline"
CHAT_DAILY_QUESTION_LIMIT = env_int("CHAT_DAILY_QUESTION_LIMIT", 25, minimum=0)
# Experiments: questions per experiment, model calls in flight per arm, calls/s per model
# (0: no cap)
EXPERIMENT_MAX_QUESTIONS = env_int("EXPERIMENT_MAX_QUESTIONS", 10_000, minimum=1)
EXPERIMENT_CONCURRENCY = env_int("EXPERIMENT_CONCURRENCY", 8, minimum=1)
EXPERIMENT_RATE_PER_S = env_float("EXPERIMENT_RATE_PER_S", 0.0)

# --- evaluators (issue #12) -------------------------------------------------
EVAL_JUDGE_MODEL = env_str("EVAL_JUDGE_MODEL", OPENAI_MODEL)
EVAL_JUDGE_TIMEOUT_S = env_float("EVAL_JUDGE_TIMEOUT_S", 60.0)
EVAL_JUDGE_MAX_ATTEMPTS = env_int("EVAL_JUDGE_MAX_ATTEMPTS", 4, minimum=1)
EVAL_JUDGE_BACKOFF_S = env_float("EVAL_JUDGE_BACKOFF_S", 1.0)
EVAL_JUDGE_BACKOFF_MAX_S = env_float("EVAL_JUDGE_BACKOFF_MAX_S", 30.0)
# Judge calls in flight at once per worker task (threads; the calls are network I/O).
EVAL_JUDGE_CONCURRENCY = env_int("EVAL_JUDGE_CONCURRENCY", 16, minimum=1)
EVAL_JUDGE_BATCH = env_int("EVAL_JUDGE_BATCH", 64, minimum=1)
# Online scoring looks at turns logged since its last look, every EVAL_ONLINE_INTERVAL_S; it
# looks EVAL_ONLINE_OVERLAP_S further back, for turns that committed after a later one.
EVAL_ONLINE_INTERVAL_S = env_float("EVAL_ONLINE_INTERVAL_S", 15.0)
EVAL_ONLINE_OVERLAP_S = env_float("EVAL_ONLINE_OVERLAP_S", 300.0)
# The review screen hides evaluator scores from an expert until they submitted their own.
EVAL_BLIND_REVIEW = env_bool("EVAL_BLIND_REVIEW", default=True)
EVAL_ONLINE_BATCH = env_int("EVAL_ONLINE_BATCH", 2000, minimum=1)
CELERY_BEAT_SCHEDULE["evaluation-online"] = {
    "task": "evaluation.tasks.score_new_turns",
    "schedule": EVAL_ONLINE_INTERVAL_S,
}

# --- review and releases ----------------------------------------------------
REVIEW_LEASE_MINUTES = env_int("REVIEW_LEASE_MINUTES", 15, minimum=1)
REVIEWS_REQUIRED = env_int("REVIEWS_REQUIRED", 1, minimum=1)
RELEASE_FOUR_EYES = env_bool("RELEASE_FOUR_EYES", default=True)
# Reviewers see each other's reviews of an item only after submitting their own.
REVIEW_BLIND = env_bool("REVIEW_BLIND", default=True)
# Leads change these four in the app (/settings/); these are the defaults: reviewhub/preferences.py
# Review queue priority: higher first. Weights are points per signal (issue #3).
REVIEW_PRIORITY_WEIGHTS = {
    "negative_feedback": env_int("REVIEW_WEIGHT_NEGATIVE_FEEDBACK", 100, minimum=0),
    "ungrounded": env_int("REVIEW_WEIGHT_UNGROUNDED", 40, minimum=0),
    "low_score": env_int("REVIEW_WEIGHT_LOW_SCORE", 20, minimum=0),
    "never_reviewed": env_int("REVIEW_WEIGHT_NEVER_REVIEWED", 10, minimum=0),
    # Evaluator scores (issue #12): a low score; a judge that contradicts the thumbs.
    "low_eval_score": env_int("REVIEW_WEIGHT_LOW_EVAL_SCORE", 30, minimum=0),
    "eval_disagrees_with_thumbs": env_int("REVIEW_WEIGHT_EVAL_DISAGREES", 60, minimum=0),
}
REVIEW_LOW_EVAL_THRESHOLD = env_float("REVIEW_LOW_EVAL_THRESHOLD", 0.5)
REVIEW_HIGH_EVAL = env_float("REVIEW_HIGH_EVAL", 0.8)
REVIEW_LOW_SCORE_THRESHOLD = env_float("REVIEW_LOW_SCORE_THRESHOLD", 0.5)
# Reviews disagree when verdicts differ or a criterion's max-min spread is over this.
REVIEW_DISAGREEMENT_SPREAD = env_int("REVIEW_DISAGREEMENT_SPREAD", 1, minimum=0)
REVIEW_QUEUE_PAGE_SIZE = env_int("REVIEW_QUEUE_PAGE_SIZE", 50, minimum=1)
# Safety net: queue any turn that reached the database without a queue item.
CELERY_BEAT_SCHEDULE["annotations-queue-backfill"] = {
    "task": "annotations.tasks.queue_backfill",
    "schedule": 300.0,
}
EXPORT_DIR = Path(env_str("EXPORT_DIR") or VAR_DIR / "exports")
if TESTING and not env_str("EXPORT_DIR"):  # the test run's own folder, removed at the end
    EXPORT_DIR = VAR_DIR / "test" / TEST_RUN_ID / "exports"
# Per-format token limits for one exported example (see datasets/exports.py for the count).
RELEASE_TOKEN_LIMITS = {
    "openai_chat": env_int("RELEASE_MAX_TOKENS_OPENAI_CHAT", 65536, minimum=1),
    "openai_dpo": env_int("RELEASE_MAX_TOKENS_OPENAI_DPO", 65536, minimum=1),
    "vertex_gemini": env_int("RELEASE_MAX_TOKENS_VERTEX_GEMINI", 32768, minimum=1),
}

# --- the rest ---------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT") or VAR_DIR / "static")
MEDIA_ROOT = VAR_DIR / "media"
# whitenoise: collectstatic writes gzip copies and content-hashed names (cache-busted, served
# with a year's max-age). Tests render templates without running collectstatic first.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- cache (login rate limits) ------------------------------------------------
# Shared by every process: Redis when there is one, else files under var/.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"reviewhub-test-{TEST_RUN_ID}" if TESTING else "reviewhub",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(
                VAR_DIR / "test" / TEST_RUN_ID / "cache" if TESTING else VAR_DIR / "cache"
            ),
        }
    }
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024, minimum=1024)

# --- security -----------------------------------------------------------------
# HTTPS is the proxy's job in production; `make run` on localhost is plain HTTP. So the
# HTTPS settings come from the environment (README, "Production" has the block that makes
# `manage.py check --deploy` clean), and secure cookies follow SECURE_SSL_REDIRECT.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = env_proxy_header("SECURE_PROXY_SSL_HEADER")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the proxy's health check speaks plain HTTP
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The app's pages load scripts and styles from 'self' only: no inline script, handler or
# style attribute (reviewhub/security.py; tests/reviewhub/test_csp.py checks in Chromium).
CONTENT_SECURITY_POLICY = env_str("CONTENT_SECURITY_POLICY") or "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"neo4j": {"level": "WARNING"}, "neomodel": {"level": "WARNING"}},
}
