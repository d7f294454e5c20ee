# palestras: the project's verbs. `make run` and `make test` do all set-up.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= data/sample/talks.csv
MODEL  ?= models/model.pkl
BIND   ?= 127.0.0.1:5000
export BIND

.PHONY: install install-dev run reload train test data bench clean

# A stamp per requirements file: re-installs only when they change (or the C
# ranking kernel's source does: the install compiles it).
$(VENV)/.installed: requirements.txt setup.py text_similarity_model/_ranking.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# The model (by default the bundled sample's), trained only when missing.
$(MODEL): | $(VENV)/.installed
	$(BIN)/text_similarity_model train $(DATA) $@

## train: (re)train MODEL (default models/model.pkl) on DATA (default the sample corpus)
train: install
	$(BIN)/text_similarity_model train $(DATA) $(MODEL)

## run: install, train the sample model if missing, serve the API on $(BIND)
run: install $(MODEL)
	MODEL_PATH=$(MODEL) $(BIN)/gunicorn -c gunicorn.conf.py

## reload: switch the running service to the model file now on disk (no downtime)
reload:
	kill -HUP $$(cat instance/gunicorn.pid)

## data: crawl the TDC site into data/talks.csv (counts in data/talks.stats.json),
##       replacing it only when the crawl finished and wrote talks;
##       narrow it with CRAWL_ARGS="-a years=2018 -a cities=saopaulo"
data: install
	$(BIN)/python -m scraper.crawl data/talks.csv $(CRAWL_ARGS)

## test: install what the tests need and run the whole suite
test: install-dev
	$(BIN)/python -m pytest

## bench: the quick benchmarks (figures in benchmarks/README.md); scale_bench.py and soak.py run by hand
bench: install-dev
	$(BIN)/python benchmarks/train_bench.py
	$(BIN)/python benchmarks/predict_bench.py
	$(BIN)/python benchmarks/http_bench.py

clean:
	rm -rf $(VENV) models/*.pkl models/*.pkl.json .pytest_cache
