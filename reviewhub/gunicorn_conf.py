"""gunicorn settings for `make run` and production alike:
`gunicorn -c reviewhub/gunicorn_conf.py reviewhub.wsgi` (`-c python:reviewhub.gunicorn_conf`
works too, at the cost of the package in the master process: see `_env_module`).

Threaded workers (gthread): the views, the ORM, the openai client and the graph driver are all
synchronous, so a thread per request is the model they were written for; a streamed chat answer
holds one thread while it streams and the other threads keep answering (bench/bench_serving.py
has the figures, README "Production" the comparison with uvicorn and granian).
"""

import importlib.util
import sys
from pathlib import Path


def _env_module():
    """reviewhub/env.py, without importing the reviewhub package when this file is given
    by path (`-c reviewhub/gunicorn_conf.py`, as serve_all does): the package's __init__
    loads the Celery app, ~13 MB in gunicorn's master, which only forks and watches the
    workers (bench/bench_stack.py measures the web's memory)."""
    if "reviewhub" in sys.modules:  # `-c python:reviewhub.gunicorn_conf`
        from reviewhub import env

        return env
    spec = importlib.util.spec_from_file_location(
        "_reviewhub_env", Path(__file__).with_name("env.py")
    )
    env = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(env)
    return env


_env = _env_module()
env_int, env_str = _env.env_int, _env.env_str

bind = env_str("WEB_BIND") or f"127.0.0.1:{env_int('PORT', 8000, minimum=1)}"
worker_class = "gthread"
# One process by default: `make run` is sized for a laptop, and each worker process holds
# its own copy of Django and the apps (~100 MB; bench/bench_stack.py). A server with cores
# to spare sets WEB_WORKERS to about one per core (README "Production").
workers = env_int("WEB_WORKERS", 1, minimum=1)
threads = env_int("WEB_THREADS", 8, minimum=1)
# A streamed answer can run for minutes; gthread workers heartbeat from their main loop, so
# this only catches a stuck worker process, not a long request.
timeout = env_int("WEB_TIMEOUT_S", 60, minimum=1)
graceful_timeout = env_int("WEB_GRACEFUL_TIMEOUT_S", 20, minimum=1)
keepalive = 5
# Trust X-Forwarded-* only from the proxy's address (loopback unless told otherwise).
forwarded_allow_ips = env_str("FORWARDED_ALLOW_IPS") or "127.0.0.1,::1"
accesslog = env_str("WEB_ACCESS_LOG") or None  # "-" for stdout
errorlog = "-"
loglevel = env_str("WEB_LOG_LEVEL") or "warning"
