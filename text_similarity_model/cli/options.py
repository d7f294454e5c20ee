"""The options several commands share, defined once (Scrapy's commands do the
same), and the checks of their values."""

from __future__ import annotations

import argparse

from .. import settings
from ..contract import DEFAULT_K, RANKING_DEPTH, TEXT_COLUMNS, n_results_problem
from ..errors import PalestrasError
from ..store.versions import DEFAULT_KEEP

#: The talks CSV argument's help, by what the command reads of it.
TRAINING_DATA_HELP = f"talks CSV with at least {','.join(TEXT_COLUMNS)} columns"
LABELLED_DATA_HELP = "talks CSV with title, description and trilha columns"


def add_data(parser: argparse.ArgumentParser, help: str = TRAINING_DATA_HELP, **kwargs) -> None:
    parser.add_argument("data", metavar="DATA.csv", help=help, **kwargs)


def add_data_or_default(parser: argparse.ArgumentParser) -> None:
    """The talks CSV, ``$DATA`` (else the sample corpus) when not given: what make train and make run train."""
    add_data(parser, f"{TRAINING_DATA_HELP} (default $DATA, else the bundled sample corpus)",
             nargs="?", default=settings.DATA.get())


def add_n_results(parser: argparse.ArgumentParser, default: int, what: str = "talks") -> None:
    parser.add_argument("-n", "--n-results", type=int, default=default, help=f"how many {what} (default {default})")


def add_k(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--k", type=int, default=DEFAULT_K,
                        help=f"cut-off of precision@k and nDCG@k (default {DEFAULT_K})")


def add_json(parser: argparse.ArgumentParser, what: str = "the results") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def add_models_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", default=settings.MODELS_DIR.get(),
                        help="the model store's folder, the one the service serves "
                             "(default $MODELS_DIR, else the checkout's models/)")


def add_store(parser: argparse.ArgumentParser, pidfile: bool = True) -> None:
    """``--models-dir`` and ``--keep``; with ``pidfile``, the services to reload after a change."""
    add_models_dir(parser)
    parser.add_argument("--keep", type=int, default=DEFAULT_KEEP,
                        help=f"versions kept when pruning, never the current or previous (default {DEFAULT_KEEP})")
    if pidfile:
        parser.add_argument("--pidfile", action="append", help=(
            "a running service's pid file (a glob pattern matches several), signalled to reload; may be repeated "
            "(default $PIDFILE, else the checkout's instance/gunicorn.pid, and the production stack's replicas, "
            "$PROD_DIR/replicas/*.pid, else instance/prod/replicas/*.pid); nothing is signalled when no service runs"))
        parser.set_defaults(pidfile_default=settings.service_pidfiles())


def check_n_results(value: int) -> None:
    problem = n_results_problem(value)
    if problem:
        raise PalestrasError(f"-n/--n-results: {problem} (got {value})")


def check_k(k: int) -> None:
    if not 1 <= k <= RANKING_DEPTH:
        raise PalestrasError(f"--k must be between 1 and {RANKING_DEPTH} (the depth of the rankings), got {k}")


def check_positive(option: str, value: int) -> None:
    if value < 1:
        raise PalestrasError(f"{option} must be at least 1, got {value}")
