# palestras: the project's verbs. `make run` and `make test` do all set-up.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= data/sample/talks.csv
MODEL  ?= models/model.pkl
BIND   ?= 127.0.0.1:5000
export BIND

.PHONY: install install-dev run train predict test data bench clean

# A stamp per requirements file: re-installs only when they change.
$(VENV)/.installed: requirements.txt setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# The bundled sample model, trained only when missing.
models/model.pkl: | $(VENV)/.installed
	$(BIN)/text_similarity_model train $(DATA) $@

## train: (re)train MODEL (default models/model.pkl) on DATA (default the sample corpus)
train: install
	$(BIN)/text_similarity_model train $(DATA) $(MODEL)

## run: install, train the sample model if missing, print a sample query's related talks
run: install $(MODEL)
	$(BIN)/text_similarity_model predict $(MODEL) -n 5 \
	  --title "Criando uma API REST para modelos de aprendizagem de máquina" \
	  --description "Treinar um modelo com scikit-learn e servi-lo com Flask como um serviço web."

## test: install what the tests need and run the whole suite
test: install-dev
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) models/*.pkl models/*.pkl.json .pytest_cache
