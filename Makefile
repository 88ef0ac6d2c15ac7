# Two commands for a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test install install-dev system-deps lint migrate demo bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python requirements.txt
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# Debian libraries WeasyPrint needs (Pango, HarfBuzz subsetting, DejaVu fonts); installs
# only what is missing, and only as root (otherwise it says what is missing).
system-deps:
	@bash scripts/install-system-deps.sh

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install system-deps
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo

run: export PORT := $(PORT)
run: demo
	$(PY) manage.py collectstatic --noinput -v 0
	@echo "Starting web on http://127.0.0.1:$(PORT)/ (admin at /admin/, API at /api/v1/), Celery worker and beat."
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" WEB_PORT=$(PORT) $(VENV)/bin/honcho start

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint system-deps
	DJANGO_SETTINGS_MODULE=billing_site.settings.test $(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=billing_site.settings.production \
	  SECRET_KEY=check-deploy-only-7Kq2vXw9Lp4Rz8Tn3Hm6Yb1Jc5Fd0Gs2Ue7Ai4Oy9Wk3 \
	  ALLOWED_HOSTS=billing.example.com \
	  $(PY) manage.py check --deploy --fail-level WARNING
	DJANGO_SETTINGS_MODULE=billing_site.settings.test $(PY) -m pytest $(PYTEST_ARGS)

bench: install-dev system-deps
	$(PY) bench/hot_account.py
	$(PY) bench/invoice_run.py
	$(PY) bench/pdf.py

clean:
	rm -rf var .pytest_cache .ruff_cache .hypothesis
