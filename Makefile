# The single entry point. `make help` lists the targets.
# `make run` and `make test` each work from a clean clone: they create the
# virtual environment, install, build the index and train when needed.

SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
MODEL := $(ROOT)/models/imiquimod-faq.tar.gz
INDEX := $(ROOT)/var/index/passages.json
STAMP := $(VENV)/.installed

export RASA_TELEMETRY_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2
# endpoints.yml reads these; bot/serve.py sets the real values for the servers.
export ACTION_ENDPOINT_URL ?= http://127.0.0.1:5055/webhook
export TRACKER_DB ?= $(ROOT)/var/tracker.db

TRAINING_INPUTS := config.yml domain.yml $(shell find $(ROOT)/bot -name '*.yml' 2>/dev/null)
INDEX_INPUTS := knowledge/leaflet.txt knowledge/layout.yml knowledge/phrasings.yml knowledge/unanswerable.yml knowledge/lexicon.yml
# The website widget's one browser library (socket.io-client), from web/package-lock.json.
WEB_DEPS := $(ROOT)/web/node_modules/.package-lock.json

.PHONY: help venv index train validate web run run-scaled shell ask test unit lint types reranker gate tune tune-offline eval bench bench-smoke clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# Rasa 3.6 supports Python 3.8 to 3.10; we use 3.10.
$(STAMP): pyproject.toml
	@set -e; \
	if [ ! -x "$(PY)" ]; then \
	  PY310=""; \
	  for cand in "$${PYTHON310:-}" python3.10 "$$(PYENV_VERSION=3.10.13 pyenv which python3.10 2>/dev/null)" $$(ls -d $$HOME/.pyenv/versions/3.10.*/bin/python3.10 2>/dev/null) /usr/bin/python3.10 /usr/local/bin/python3.10; do \
	    [ -n "$$cand" ] || continue; \
	    if PYENV_VERSION=3.10.13 "$$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then PY310="$$cand"; break; fi; \
	  done; \
	  if [ -z "$$PY310" ]; then \
	    echo "ERROR: Python 3.10 is required (Rasa 3.6 supports 3.8-3.10) and none was found." >&2; \
	    echo "       Install it (e.g. 'pyenv install 3.10.13') or set PYTHON310=/path/to/python3.10." >&2; \
	    exit 1; \
	  fi; \
	  echo "Creating .venv with $$PY310"; \
	  PYENV_VERSION=3.10.13 "$$PY310" -m venv "$(VENV)"; \
	fi; \
	"$(PY)" -m pip install -q --upgrade "pip<25" ; \
	"$(PY)" -m pip install -q -e ".[dev]"; \
	"$(PY)" -m pip check; \
	touch "$(STAMP)"

venv: $(STAMP) ## Create .venv with Python 3.10 and install everything

$(INDEX): $(STAMP) $(INDEX_INPUTS)
	USE_TF=0 $(PY) -m knowledge.index

index: $(INDEX) ## Build the passage index (only when one of its inputs changed)

validate: $(STAMP) ## Check the Rasa training data (rasa data validate --fail-on-warnings)
	$(RASA) data validate --data bot --domain domain.yml --config config.yml --fail-on-warnings

$(MODEL): $(STAMP) $(TRAINING_INPUTS) bot/components.py bot/redflags.py
	$(RASA) data validate --data bot --domain domain.yml --config config.yml --fail-on-warnings
	$(RASA) train --data bot --domain domain.yml --config config.yml --out models --fixed-model-name imiquimod-faq
	@touch $(MODEL)

train: $(MODEL) ## Train the Rasa model (only when the training data or config changed)

$(WEB_DEPS): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "ERROR: npm is needed once, to install the widget's socket.io client (e.g. apt-get install npm)." >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund
	@touch $(WEB_DEPS)

web: $(WEB_DEPS) ## Install the website widget's socket.io client (npm ci in web/, from package-lock.json)

run: $(INDEX) $(MODEL) $(WEB_DEPS) ## Start the action server and the Rasa server (REST on 127.0.0.1:5005)
	$(PY) -m bot.serve

run-scaled: $(INDEX) $(MODEL) $(WEB_DEPS) ## Like run, with several workers on PostgreSQL and Redis (RASA_WORKERS, default 2)
	BOT_SCALE_OUT=1 $(PY) -m bot.serve

shell: $(INDEX) $(MODEL) ## Pharmacists' shell: chat with the bot in the terminal
	@RASA_PORT=$${RASA_PORT:-5006} ACTION_PORT=$${ACTION_PORT:-5056} $(PY) -m bot.shell

ask: $(INDEX) ## Inspect one message: make ask Q="how do I store it?"
	@USE_TF=0 $(PY) -m knowledge.ask "$(Q)"

lint: $(STAMP) ## Lint and format check (ruff)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: $(STAMP) ## Type check (mypy)
	$(VENV)/bin/mypy actions bot knowledge

unit: $(INDEX) ## Unit tests only (no servers)
	$(PY) -m pytest -m "not server" -q

test: $(INDEX) $(MODEL) $(WEB_DEPS) ## Everything CI runs: lint, validate, unit, conversation and end-to-end tests
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(RASA) data validate --data bot --domain domain.yml --config config.yml --fail-on-warnings
	$(RASA) test core --stories tests/test_conversations.yml --model $(MODEL) --fail-on-prediction-errors --out results/conversations
	$(PY) -m pytest -q -rs
	$(PY) -m tests.bench.benchmark --smoke > test-artifacts/bench-smoke.txt && tail -n 30 test-artifacts/bench-smoke.txt

reranker: $(INDEX) ## Retrain the follow-up scorer and its passage classifier from the tuning follow-ups -> knowledge/reranker.json, knowledge/passage_classifier.json (leave-one-batch-out first)
	RERANK_FOLLOW_UPS=0 $(PY) -m tests.eval.train_reranker --cross-validate

gate: $(INDEX) $(MODEL) ## Retrain the answer-or-decline gate for messages read in context from the tuning conversations -> knowledge/answer_gate.json, knowledge/answerable.json (after make reranker; cross-validated figures first)
	ANSWER_GATE=0 $(PY) -m tests.eval.train_gate --cross-validate

tune: $(INDEX) $(MODEL) ## Tuning part of the labelled set only: figures and failures (never runs the hold-out)
	$(PY) -m tests.eval.evaluate --tuning-only

tune-offline: $(INDEX) $(MODEL) ## Like tune, replayed in-process with the trained model's intents (no servers; about 80 s)
	$(PY) -m tests.eval.evaluate --tuning-only --offline

eval: $(INDEX) $(MODEL) ## Answer quality through the running bot vs baselines -> docs/evaluation.md
	$(PY) -m tests.eval.evaluate

bench: $(INDEX) $(MODEL) ## Speed and memory figures (quiet machine please) -> docs/performance.md
	$(PY) -m tests.bench.benchmark

bench-smoke: $(INDEX) $(MODEL) ## A short run of the benchmark harness (CI), written to test-artifacts/
	$(PY) -m tests.bench.benchmark --smoke

clean: ## Remove built artefacts (index, model, results), keep conversations and .venv
	rm -rf var/index models results
