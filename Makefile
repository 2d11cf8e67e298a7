# ReviewHub: `make run` and `make test` are all a new machine needs (Python 3.11).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: run dev test bench faults lint venv migrate demo static browser

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $(STAMP)

venv: $(STAMP)

migrate: venv
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo

static: venv
	$(PY) manage.py collectstatic --noinput -v 0

# The product: gunicorn, DEBUG off, static files compressed and cache-busted by the app.
# Demo users only on the local default database (seed_demo refuses a production one).
run: migrate static
	$(PY) manage.py seed_demo --unless-production
	$(PY) manage.py serve_all --port $(PORT)

# Development: runserver's autoreload and Django's debug pages.
dev: export DEBUG = true
dev: demo
	$(PY) manage.py serve_all --dev --port $(PORT)

# Browser tests drive Debian's Chromium; install it where we can (root with apt-get).
browser:
	@[ -x /usr/bin/chromium ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	  echo "note: /usr/bin/chromium missing; browser tests will be skipped"; }

test: venv browser
	$(PY) -m pytest

bench: venv
	$(PY) bench/run.py

# Fault benchmark (bounded, loopback only): broker down during writes, a worker killed
# mid-build, the graph server paused; prints requests tried, 5xx, rows lost, jobs recovered.
faults: venv
	$(PY) bench/faults.py

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports
