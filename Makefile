# palestras: the project's verbs. `make run` and `make test` do all set-up.
# `make` alone lists them (the `## verb: what it does` lines below).
.DEFAULT_GOAL := help

# The interpreter the venv is made from: PYTHON=... if given, else the first of
# these that runs and is 3.11 or newer. Each is run, not just looked up: a pyenv
# shim is on PATH even for a version pyenv doesn't have, and fails when run.
PYTHON_CANDIDATES := python3.11 python3.12 python3.13 python3
PYTHON_IS_OK      := -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
PYTHON ?= $(shell for candidate in $(PYTHON_CANDIDATES); do \
                    "$$candidate" $(PYTHON_IS_OK) && { echo "$$candidate"; break; }; done)
, := ,
NEED_PYTHON = palestras needs Python 3.11 or newer with venv$(if $(PYTHON),$(,) and $(PYTHON) is not one): \
              install python3.11 (Debian/Ubuntu: apt install python3 python3-venv python3-dev gcc) \
              or run make PYTHON=/path/to/python3.x
VENV   ?= .venv
BIN    := $(VENV)/bin
# Every other setting (DATA, MODELS_DIR, PIDFILE, BIND, PROD_DIR, REPLICAS, CRAWL_OUTPUT...) has its
# default in text_similarity_model/settings.py; `make run BIND=...` passes it on through the
# environment. This asks for one value: $$($(SETTING) CRAWL_OUTPUT).
SETTING = $(BIN)/python -m text_similarity_model.settings
# Options of the checks before promotion, e.g. UPDATE_ARGS="--min-talks-share 0.5" (docs/operating.md).
UPDATE_ARGS ?=

.PHONY: help install install-dev run run-prod reload train update rollback test test-fast lint data bench clean

## help: this list
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

# The venv, made once; PYTHON is only looked for (and checked) then.
$(BIN)/python:
	$(if $(and $(PYTHON),$(shell $(PYTHON) $(PYTHON_IS_OK) && echo ok)),,$(error $(NEED_PYTHON)))
	$(PYTHON) -m venv $(VENV)

# A stamp per requirements file: re-installs only when they change (or the C
# ranking kernel's source does: the install compiles it).
$(VENV)/.installed: requirements.txt setup.py text_similarity_model/steps/_ranking.c | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

## install: the venv (VENV, default .venv, from PYTHON) with the service's requirements
install: $(VENV)/.installed

## install-dev: install, plus what the tests and the linter need (requirements-dev.txt)
install-dev: $(VENV)/.installed-dev

## train: train DATA (default the sample corpus) into MODELS_DIR as a new version, made current
##        if its checks against the current one hold (FORCE=1: anyway); the running service follows
train: install
	$(BIN)/text_similarity_model update $(if $(FORCE),--force) $(UPDATE_ARGS)

## update: crawl the site into CRAWL_OUTPUT (CRAWL_ARGS as for make data), then train, check and
##         promote it as make train does; a failure at any step leaves the served model as it was
update: install
	$(BIN)/python -m scraper.crawl "$$($(SETTING) CRAWL_OUTPUT)" $(CRAWL_ARGS)
	$(BIN)/text_similarity_model update "$$($(SETTING) CRAWL_OUTPUT)" $(if $(FORCE),--force) $(UPDATE_ARGS)

## rollback: make the previous version current again; the running service follows
rollback: install
	$(BIN)/text_similarity_model models rollback

## run: install, give an empty MODELS_DIR its first version (the sample corpus), serve the API on
##      BIND (default 127.0.0.1:5000); MODEL_PATH=file.pkl serves that file instead
run: install
	$(if $(MODEL_PATH),,$(BIN)/text_similarity_model models init)
	$(BIN)/gunicorn -c gunicorn.conf.py

## run-prod: the production stack in the foreground (docs/deploying.md): nginx on BIND (default
##           127.0.0.1:8080; TLS_CERT/TLS_KEY for HTTPS) in front of REPLICAS (default 2) gunicorn
##           instances, under supervisord; the store gets its first version as in make run
run-prod: install
	$(BIN)/python deploy/stack.py --check
	$(if $(MODEL_PATH),,$(BIN)/text_similarity_model models init)
	$(BIN)/python deploy/stack.py

## reload: switch the running service (make run's, and every replica of make run-prod's) to the
##         store's current version (no downtime)
reload: install
	$(BIN)/text_similarity_model models reload

## data: crawl the TDC site into CRAWL_OUTPUT (default data/talks.csv; counts beside it, .stats.json),
##       replacing it only when the crawl finished and wrote talks;
##       narrow it with CRAWL_ARGS="-a years=2018 -a cities=saopaulo"
data: install
	$(BIN)/python -m scraper.crawl "$$($(SETTING) CRAWL_OUTPUT)" $(CRAWL_ARGS)

## lint: ruff on the whole checkout (rules in ruff.toml)
lint: install-dev
	$(BIN)/ruff check .

## test: lint, then the whole suite (what CI runs: .ci/run)
test: lint
	$(BIN)/python -m pytest --durations=40

## test-fast: the quick suite, under a minute: no slow, browser, gunicorn or notebook tests
test-fast: install-dev
	$(BIN)/python -m pytest -m "not slow and not browser and not gunicorn and not notebook"

## bench: the quick benchmarks (figures in benchmarks/README.md); scale_bench.py and soak.py run by hand
bench: install-dev
	$(BIN)/python benchmarks/train_bench.py
	$(BIN)/python benchmarks/predict_bench.py
	$(BIN)/python benchmarks/worst_case_bench.py
	$(BIN)/python benchmarks/http_bench.py

## clean: remove the venv (VENV) and pytest's cache (the model store stays)
clean:
	rm -rf $(VENV) .pytest_cache
