"""Every setting with a default, in one place: the variable that overrides it,
its default and what it is for. The command line, ``gunicorn.conf.py``, the
API, the production stack and the Makefile all read them from here (the
Makefile passes what it is given through the environment and nothing else).

An empty variable counts as unset. Nothing heavy is imported: the scraper and
gunicorn's configuration read this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: The checkout's root: the folder holding ``setup.py``, ``models/``, ``data/``.
#: The service, the tests and the benchmarks run from a checkout (``pip install -e .``).
REPO_ROOT = Path(__file__).resolve().parents[1]

#: The service's own files: the request log's SQLite database, pid files, the stack's folder.
INSTANCE_DIR = REPO_ROOT / "instance"

#: The bundled sample corpus, written for the project (``make run`` trains it into an empty store).
SAMPLE_CSV = REPO_ROOT / "data" / "sample" / "talks.csv"

#: The real TDC corpus, shared beside the checkout (never copied into it).
REAL_CSV = REPO_ROOT.parent / "shared" / "data" / "tdc_talks_2016_2018.csv"

#: Its judged set: 2018 talks as queries, 2016-2017 candidates graded by reading (docs/quality.md).
REAL_JUDGED = REAL_CSV.parent / "judged_2018.json"


@dataclass(frozen=True)
class Setting:
    """One setting: the environment variable ``name`` overrides ``default``."""

    name: str
    default: str
    help: str

    def get(self, environ: dict | None = None) -> str:
        """The value in ``environ`` (default: this process' environment), else the default."""
        value = (os.environ if environ is None else environ).get(self.name)
        return value if value else self.default

    def path(self, environ: dict | None = None) -> Path:
        return Path(self.get(environ))

    def seconds(self, environ: dict | None = None) -> float:
        """The value as a number of seconds, 0 or more; raises ValueError naming the variable."""
        value = self.get(environ)
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds < float("inf"):
            raise ValueError(f"{self.name}={value!r}: not a number of seconds (0 or more)")
        return seconds


MODELS_DIR = Setting("MODELS_DIR", str(REPO_ROOT / "models"),
                     "the model store: the service serves its current version, the model commands change it")
MODEL_PATH = Setting("MODEL_PATH", "", "a lone model file served instead of the store's current version")
DATABASE_URL = Setting("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'requests.db'}",
                       "the request log's database (postgresql://user@host/db for PostgreSQL)")
REQUEST_LOG_DAYS = Setting("REQUEST_LOG_DAYS", "30",
                            "days the request log keeps a query's row (its text included); 0 keeps every row")
BIND = Setting("BIND", "127.0.0.1:5000", "where make run's gunicorn listens")
WORKERS = Setting("WORKERS", str(os.cpu_count() or 1), "gunicorn workers of a service (make run's, each replica's)")
PIDFILE = Setting("PIDFILE", str(INSTANCE_DIR / "gunicorn.pid"),
                  "make run's gunicorn pid file, signalled when the store's current version changes")
LOG_LEVEL = Setting("LOG_LEVEL", "info", "gunicorn's log level")
REQUEST_BODY_SECONDS = Setting("REQUEST_BODY_SECONDS", "30",
                               "the longest a request's body may take to arrive at a gunicorn worker: 408 past it "
                               "(nginx receives the whole body before passing it on)")
STORE_POLL_SECONDS = Setting("STORE_POLL_SECONDS", "5",
                             "how often a service looks (a stat) at the store's current.json and loads a new current "
                             "version by itself, as on SIGHUP; 0: only on SIGHUP")
DATA = Setting("DATA", str(SAMPLE_CSV), "the talks CSV trained into an empty model store (make run, make train)")
JUDGED_FILE = Setting("JUDGED_FILE", "",
                      "a judged file (JUDGED.md): a new version whose pipeline configuration differs from the current "
                      "one's is compared with it on judged relevance before a promotion; unset: not compared")
CRAWL_OUTPUT = Setting("CRAWL_OUTPUT", str(REPO_ROOT / "data" / "talks.csv"), "where make data writes the crawl")

# The production stack (make run-prod, deploy/stack.py).
PROD_DIR = Setting("PROD_DIR", str(INSTANCE_DIR / "prod"),
                   "the stack's files: rendered configurations, replicas/*.pid, nginx's folders")
STACK_BIND = Setting("BIND", "127.0.0.1:8080", "where make run-prod's nginx listens")
REPLICAS = Setting("REPLICAS", "2", "gunicorn instances behind nginx")
REPLICA_PORTS = Setting("REPLICA_PORTS", "", "the replicas' loopback ports (default: those after BIND's)")
NGINX = Setting("NGINX", "/usr/sbin/nginx", "the nginx binary")
TLS_CERT = Setting("TLS_CERT", "", "PEM certificate: nginx speaks HTTPS (only) on BIND")
TLS_KEY = Setting("TLS_KEY", "", "PEM key of TLS_CERT")
RATE_LIMIT = Setting("RATE_LIMIT", "10", "requests a second per client address on the prediction endpoints")
RATE_BURST = Setting("RATE_BURST", "20", "requests above RATE_LIMIT answered at once")
REVIEW_RATE_LIMIT = Setting("REVIEW_RATE_LIMIT", "6",
                            "POST /review calls a minute per client address (each reviews up to a call's submissions)")
REVIEW_RATE_BURST = Setting("REVIEW_RATE_BURST", "3", "/review calls above REVIEW_RATE_LIMIT answered at once")
READ_TIMEOUT = Setting("READ_TIMEOUT", "35",
                      "seconds nginx waits for a replica's answer (504 past it); keep it above gunicorn's worker "
                      "timeout (30 s), which bounds every request, so that nginx never gives up on one first")
OPERATOR_ALLOW = Setting("OPERATOR_ALLOW", "127.0.0.1 ::1",
                         "addresses or networks (CIDR) allowed to read /stats and /metrics through nginx: "
                         "loopback, plus e.g. the Prometheus host's address")


def replica_pidfiles(environ: dict | None = None) -> str:
    """The glob of the stack's replicas' pid files."""
    return str(PROD_DIR.path(environ) / "replicas" / "*.pid")


def service_pidfiles(environ: dict | None = None) -> list[str]:
    """The pid files (paths or globs) of every service run by default: ``make run``'s
    gunicorn and ``make run-prod``'s replicas; signalled to follow the store."""
    return [PIDFILE.get(environ), replica_pidfiles(environ)]


def _main(argv: list[str]) -> int:
    """``python -m text_similarity_model.settings [NAME]``: NAME's value (what the
    Makefile asks), or every setting with its value and where it comes from."""
    found = {name: value for name, value in globals().items() if isinstance(value, Setting)}
    if argv:
        if argv[0] not in found:
            print(f"no setting {argv[0]}; the settings are {', '.join(found)}", file=sys.stderr)
            return 2
        print(found[argv[0]].get())
        return 0
    for name, setting in found.items():
        source = f"${setting.name}" if os.environ.get(setting.name) else "default"
        print(f"{name:<14} {setting.get():<50} ({source}) {setting.help}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))
