# Two commands for a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

# Without DATABASE_URL, the database steps run inside scripts/embedded_db.py, which starts
# the embedded PostgreSQL (data under var/postgres/), sets DATABASE_URL for them and stops
# the server when they end (Ctrl-C included). With DATABASE_URL set it only runs them.
WITH_DB := $(PY) scripts/embedded_db.py run --

.PHONY: run serve test test-in-db install install-local install-dev system-deps lint migrate \
	demo db bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python requirements.txt
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-local: $(VENV)/.installed requirements-local.txt
	$(PY) -m pip install -q -r requirements-local.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-local requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# Debian libraries WeasyPrint needs (Pango, HarfBuzz subsetting, DejaVu fonts); installs
# only what is missing, and only as root (otherwise it says what is missing).
system-deps:
	@bash scripts/install-system-deps.sh

install: $(VENV)/.installed
install-local: $(VENV)/.installed-local
install-dev: $(VENV)/.installed-dev

migrate: install-local system-deps
	$(WITH_DB) $(PY) manage.py migrate --noinput

demo: install-local system-deps
	$(WITH_DB) sh -c '$(PY) manage.py migrate --noinput && $(PY) manage.py seed_demo'

# Starts the embedded PostgreSQL and leaves it running, for manage.py by hand:
#   export DATABASE_URL=$$(.venv/bin/python scripts/embedded_db.py url)
db: install-local
	$(PY) scripts/embedded_db.py start

run: export PORT := $(PORT)
run: install-local system-deps
	$(WITH_DB) $(MAKE) --no-print-directory serve

serve:
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py collectstatic --noinput -v 0
	@echo "Starting web on http://127.0.0.1:$(PORT)/ (admin at /admin/, API at /api/v1/), Celery worker and beat."
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" WEB_PORT=$(PORT) $(VENV)/bin/honcho start

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint system-deps
	$(WITH_DB) $(MAKE) --no-print-directory test-in-db

test-in-db:
	DJANGO_SETTINGS_MODULE=billing_site.settings.test $(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=billing_site.settings.production \
	  SECRET_KEY=check-deploy-only-7Kq2vXw9Lp4Rz8Tn3Hm6Yb1Jc5Fd0Gs2Ue7Ai4Oy9Wk3 \
	  ALLOWED_HOSTS=billing.example.com CACHE_URL=redis://127.0.0.1:6379/1 \
	  $(PY) manage.py check --deploy --fail-level WARNING
	DJANGO_SETTINGS_MODULE=billing_site.settings.test $(PY) -m pytest $(PYTEST_ARGS)

bench: install-dev system-deps
	$(WITH_DB) sh -c '$(PY) bench/hot_account.py && $(PY) bench/invoice_run.py && $(PY) bench/pdf.py'

clean:
	rm -rf var .pytest_cache .ruff_cache .hypothesis
