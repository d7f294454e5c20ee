"""Where the project's own files live, computed once for every caller.

The service, the tests and the benchmarks run from a checkout (``pip install -e .``):
its default model, request log and sample corpus sit beside the packages.
"""

from __future__ import annotations

from pathlib import Path

#: The checkout's root: the folder holding ``setup.py``, ``models/``, ``data/``.
REPO_ROOT = Path(__file__).resolve().parents[1]

#: The model store the service serves the current version of unless told
#: otherwise (``MODELS_DIR``, ``MODEL_PATH``).
MODELS_DIR = REPO_ROOT / "models"

#: The service's own files: the request log's SQLite database, gunicorn's pid file.
INSTANCE_DIR = REPO_ROOT / "instance"

#: Where gunicorn writes its pid, and where the commands that swap the served
#: model find the service to signal (``PIDFILE`` overrides both).
PIDFILE = INSTANCE_DIR / "gunicorn.pid"

#: The production stack's files (``make run-prod``, ``deploy/stack.py``; ``PROD_DIR``
#: overrides): its replicas' pid files are ``replicas/*.pid`` in it, signalled
#: with ``PIDFILE`` by the commands that swap the served model.
PROD_DIR = INSTANCE_DIR / "prod"

#: The bundled sample corpus, written for the project (``make run`` trains it).
SAMPLE_CSV = REPO_ROOT / "data" / "sample" / "talks.csv"

#: The real TDC corpus, shared beside the checkout (never copied into it).
REAL_CSV = REPO_ROOT.parent / "shared" / "data" / "tdc_talks_2016_2018.csv"
