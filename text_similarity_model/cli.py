"""``text_similarity_model``: train a model from a talks CSV and query it.

    text_similarity_model train DATA.csv MODEL.pkl [--version V]
    text_similarity_model predict MODEL.pkl --title T --description D [-n 5]
    text_similarity_model review SUBMISSIONS [MODEL.pkl] -o REPORT.html|.json|.csv [-n 5]
    text_similarity_model evaluate DATA.csv [--k 5] [--split-year Y | --repeats] [--json]
    text_similarity_model tune DATA.csv [--n-iter 60] [--param NAME=V1,V2 ...] [--json]
    text_similarity_model update DATA.csv [--models-dir models] [--pidfile P] [--force] [thresholds]
    text_similarity_model models list|show VERSION|promote VERSION|rollback [--models-dir models] [--json]

Errors a user can cause print one line naming the input and exit with 2.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import signal
import sys
import time
from pathlib import Path

from .contract import N_RELATED, N_RESULTS, TEXT_COLUMNS
from .errors import PalestrasError
from .metrics import DEFAULT_K
from .paths import MODELS_DIR, PIDFILE, PROD_DIR
from .promotion import Thresholds
from .store import DEFAULT_KEEP

USAGE_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    try:
        return arguments.command(arguments)
    except PalestrasError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="text_similarity_model",
        description="Train and query the related-talks model (lemmas -> TF-IDF -> cosine).",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model on a talks CSV and write it atomically")
    train.add_argument("data", metavar="DATA.csv", help=f"talks CSV with at least {','.join(TEXT_COLUMNS)} columns")
    train.add_argument("model", metavar="MODEL.pkl", help="where to write the model (and MODEL.pkl.json)")
    train.add_argument("--version", help="model version reported by the API (default: time and data hash)")
    train.set_defaults(command=_train)

    predict = commands.add_parser("predict", help="print the talks related to a query, as JSON")
    predict.add_argument("model", metavar="MODEL.pkl")
    predict.add_argument("--title", default="", help="the query talk's title")
    predict.add_argument("--description", default="", help="the query talk's description")
    predict.add_argument("-n", "--n-results", type=int, default=N_RESULTS, help=f"how many talks (default {N_RESULTS})")
    predict.set_defaults(command=_predict)

    review = commands.add_parser(
        "review",
        help="review a call for papers: each submission's related past talks, re-given talks, duplicates",
        description="Each submission gets its most related past talks (with same_talk: it is that talk, given "
        "again) and the other submissions that are the same talk. The report's format follows its extension: "
        ".html (to read), .json, .csv. Nothing but the report is written.",
    )
    review.add_argument("submissions", metavar="SUBMISSIONS",
                        help="a CSV with title,description (id or code and other columns kept), or pretalx's "
                             "submissions JSON (a saved /api/events/<event>/submissions/ response)")
    review.add_argument("model", metavar="MODEL.pkl", nargs="?",
                        help="the model file (default: the model store's current version, --models-dir)")
    review.add_argument("-o", "--output", required=True, metavar="REPORT",
                        help="the report: REPORT.html, REPORT.json or REPORT.csv (replaced atomically)")
    review.add_argument("-n", "--n-results", type=int, default=N_RELATED,
                        help=f"past talks per submission (default {N_RELATED})")
    review.add_argument("--models-dir", default=os.environ.get("MODELS_DIR", str(MODELS_DIR)),
                        help="the model store used without MODEL.pkl (default $MODELS_DIR, else the checkout's models/)")
    review.set_defaults(command=_review)

    evaluate = commands.add_parser(
        "evaluate",
        help="measure the related talks (P@k, MRR, nDCG@k by track) of the baseline and default configurations",
        description="Each talk's title and description is a query; a talk in the answer is relevant when it has "
        "the query's trilha. Leave-one-out by default: every talk against all the others.",
    )
    evaluate.add_argument("data", metavar="DATA.csv", help="talks CSV with title, description and trilha columns")
    evaluate.add_argument("--k", type=int, default=DEFAULT_K,
                          help=f"cut-off of precision@k and nDCG@k (default {DEFAULT_K})")
    protocol = evaluate.add_mutually_exclusive_group()
    protocol.add_argument("--split-year", type=int, metavar="Y",
                          help="queries: the talks of year Y; corpus: the talks before Y")
    protocol.add_argument("--repeats", action="store_true",
                          help="measure same_talk instead: precision and recall of the re-given talks found, every "
                               "talk against all the others, labels from shared normalised titles and descriptions")
    evaluate.add_argument("--tracks", type=int, metavar="N", help="show only the N worst tracks (default all)")
    evaluate.add_argument("--json", action="store_true", help="print the results as JSON")
    evaluate.set_defaults(command=_evaluate)

    tune = commands.add_parser(
        "tune",
        help="search pipeline parameters by cross-validation and print the ranked configurations",
        description="Folds of talks are queries against a pipeline fitted on the other folds; configurations "
        "are ranked by mean precision@k. Without --param, RandomizedSearchCV draws --n-iter configurations "
        "of the search space; with --param, GridSearchCV tries every combination of the given values.",
    )
    tune.add_argument("data", metavar="DATA.csv", help="talks CSV with title, description and trilha columns")
    tune.add_argument("--param", action="append", default=[], metavar="NAME=V1,V2",
                      help="a grid parameter and its values, e.g. tfidf__min_df=1,2 (repeatable)")
    tune.add_argument("--n-iter", type=int, default=60, help="configurations drawn without --param (default 60)")
    tune.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    tune.add_argument("--k", type=int, default=DEFAULT_K, help=f"cut-off of precision@k and nDCG@k (default {DEFAULT_K})")
    tune.add_argument("--n-jobs", type=int, default=2, help="parallel fits (default 2)")
    tune.add_argument("--seed", type=int, default=0, help="seed of the folds and of the draws (default 0)")
    tune.add_argument("--top", type=int, metavar="N", help="show only the N best configurations (default all)")
    tune.add_argument("--json", action="store_true", help="print the results as JSON")
    tune.set_defaults(command=_tune)

    update = commands.add_parser(
        "update",
        help="train a new version into the model store, check it against the current one, promote or refuse",
        description="Trains DATA.csv into a new version of the store, measures it (leave-one-out P@5 and MRR) "
        "and makes it current only if every check against the current version holds; then reloads the "
        "running service (--pidfile). A refused version stays in the store, not current, for inspection.",
    )
    update.add_argument("data", metavar="DATA.csv", help="talks CSV with at least title,description columns")
    _store_arguments(update)
    update.add_argument("--version", help="the new version's name (default: training time and data hash)")
    update.add_argument("--force", action="store_true", help="promote even if checks fail (recorded in the report)")
    defaults = Thresholds()
    update.add_argument("--min-talks-share", type=float, default=defaults.min_talks_share, metavar="S",
                        help=f"refuse fewer talks than S x the current version's (default {defaults.min_talks_share})")
    update.add_argument("--max-empty-share", type=float, default=defaults.max_empty_share, metavar="S",
                        help=f"refuse more empty rows than S of those read (default {defaults.max_empty_share})")
    update.add_argument("--max-duplicate-share", type=float, default=defaults.max_duplicate_share, metavar="S",
                        help=f"refuse more duplicate rows than S (default {defaults.max_duplicate_share})")
    update.add_argument("--quality-tolerance", type=float, default=defaults.quality_tolerance, metavar="D",
                        help=f"refuse a P@5 or MRR lower than the current's by more than D "
                             f"(default {defaults.quality_tolerance})")
    update.add_argument("--max-queries", type=int, default=defaults.max_queries, metavar="N",
                        help=f"talks sampled (fixed seed) to measure P@5 and MRR (default {defaults.max_queries})")
    update.set_defaults(command=_update)

    models = commands.add_parser("models", help="list, show, promote or roll back the versions of the model store")
    verbs = models.add_subparsers(required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="every version, with training time, talks, P@5/MRR, which is current")
    _store_arguments(listing, pidfile=False)
    listing.add_argument("--json", action="store_true", help="print the versions as JSON")
    listing.set_defaults(command=_models_list)
    show = verbs.add_parser("show", help="one version's training report, as JSON")
    show.add_argument("name", metavar="VERSION")
    _store_arguments(show, pidfile=False)
    show.set_defaults(command=_models_show)
    promote = verbs.add_parser("promote", help="make VERSION current and reload the running service")
    promote.add_argument("name", metavar="VERSION")
    _store_arguments(promote)
    promote.set_defaults(command=_models_promote)
    init = verbs.add_parser(
        "init", help="give an empty store its first version: an existing MODELS_DIR/model.pkl, else DATA.csv trained",
        description="Nothing to do when the store has a current version. Otherwise a model file from before "
        "the store (MODELS_DIR/model.pkl) becomes its first version; without one, DATA.csv is trained "
        "(data checks only: there is nothing to compare with). make run calls it.")
    init.add_argument("data", metavar="DATA.csv", help="talks CSV trained when the store is empty")
    _store_arguments(init, pidfile=False)
    init.set_defaults(command=_models_init)
    rollback = verbs.add_parser("rollback", help="make the previous current version current again, and reload")
    _store_arguments(rollback)
    rollback.set_defaults(command=_models_rollback)
    return parser


def _store_arguments(parser, pidfile: bool = True) -> None:
    parser.add_argument("--models-dir", default=os.environ.get("MODELS_DIR", str(MODELS_DIR)),
                        help="the model store's folder, the one the service serves "
                             "(default $MODELS_DIR, else the checkout's models/)")
    parser.add_argument("--keep", type=int, default=DEFAULT_KEEP,
                        help=f"versions kept when pruning, never the current or previous (default {DEFAULT_KEEP})")
    if pidfile:
        # Both ways of serving by default: `make run`'s gunicorn and `make run-prod`'s replicas.
        default = [os.environ.get("PIDFILE", str(PIDFILE)),
                   str(Path(os.environ.get("PROD_DIR", str(PROD_DIR))) / "replicas" / "*.pid")]
        parser.add_argument("--pidfile", action="append", help=(
            "a running service's pid file (a glob pattern matches several), signalled to reload; may be repeated "
            "(default $PIDFILE, else the checkout's instance/gunicorn.pid, and the production stack's replicas, "
            "$PROD_DIR/replicas/*.pid, else instance/prod/replicas/*.pid); nothing is signalled when no service runs"))
        parser.set_defaults(pidfile_default=default)


def _train(arguments) -> int:
    started = time.perf_counter()
    # Imported here so `--help` and argument errors answer instantly.
    from .artifact import check_writable_destination
    from .data import read_talks_csv
    from .model import Model

    check_writable_destination(arguments.model)  # before minutes of training
    talks, data_sha256 = read_talks_csv(arguments.data)
    model = Model(version=arguments.version)
    report = model.train(talks, data_sha256=data_sha256, progress=True)
    model.serialize(arguments.model)
    for line in report.lines():
        print(line)
    size_mb = Path(arguments.model).stat().st_size / 1e6
    print(f"wrote {arguments.model} ({size_mb:.1f} MB, version {model.version}) "
          f"in {time.perf_counter() - started:.1f} s total")
    return 0


def _predict(arguments) -> int:
    from .model import Model

    if not (arguments.title.strip() or arguments.description.strip()):
        raise PalestrasError("give --title or --description (or both): the query has no text")
    if arguments.n_results < 1:
        raise PalestrasError(f"-n/--n-results must be at least 1, got {arguments.n_results}")
    model = Model.deserialize(arguments.model)
    answer = model.predict({"title": arguments.title, "description": arguments.description}, arguments.n_results)
    json.dump(answer, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


def _review(arguments) -> int:
    from .review_report import check_report_path, write_report

    if arguments.n_results < 1:
        raise PalestrasError(f"-n/--n-results must be at least 1, got {arguments.n_results}")
    report_format = check_report_path(arguments.output)  # before reading anything
    from .model import Model
    from .review import read_submissions, review
    from .store import ModelStore

    submissions = read_submissions(arguments.submissions)
    print(f"{arguments.submissions}: {submissions.format}, {len(submissions)} submissions")
    for line in submissions.skipped_lines():
        print(line)
    repeated = submissions.repeated_ids()
    if repeated:
        print(f"warning: {len(repeated)} ids name more than one submission (e.g. {repeated[0]!r}); the report's "
              "duplicates name submissions by id: give each submission its own id")
    model_path = arguments.model or ModelStore(arguments.models_dir).current_model_path()
    model = Model.deserialize(model_path)
    result = review(submissions, model, arguments.n_results, progress=sys.stderr.isatty())
    for line in result.summary_lines():
        print(line)
    write_report(result, arguments.output, report_format)
    size = Path(arguments.output).stat().st_size
    print(f"wrote {arguments.output} ({report_format}, {size / 1e6:.1f} MB)" if size >= 100_000
          else f"wrote {arguments.output} ({report_format}, {size / 1e3:.1f} kB)")
    return 0


def _evaluate(arguments) -> int:
    from .data import read_talks_csv
    from .evaluation import evaluate_configurations, report_json, report_lines

    _check_k(arguments.k)
    if arguments.tracks is not None:
        _check_positive("--tracks", arguments.tracks)
    talks, _ = read_talks_csv(arguments.data)
    if arguments.repeats:
        return _evaluate_repeats(talks, arguments)
    evaluations = evaluate_configurations(talks, k=arguments.k, split_year_at=arguments.split_year)
    if arguments.json:
        json.dump(report_json(evaluations), sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print("\n".join(report_lines(evaluations, f" of {arguments.data}", arguments.tracks)))
    return 0


def _evaluate_repeats(talks, arguments) -> int:
    from .evaluation import repeat_detection

    evaluation = repeat_detection(talks)
    if arguments.json:
        json.dump(evaluation.json(), sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print("\n".join(evaluation.lines(f" of {arguments.data}")))
    return 0


def _tune(arguments) -> int:
    from .data import read_talks_csv
    from .tuning import check_params, parse_grid, tune

    _check_k(arguments.k)
    for option in ("--n-iter", "--n-jobs", "--top"):
        value = getattr(arguments, option[2:].replace("-", "_"))
        if value is not None:
            _check_positive(option, value)
    if arguments.folds < 2:
        raise PalestrasError(f"--folds must be at least 2, got {arguments.folds}")
    try:
        grid = parse_grid(arguments.param) if arguments.param else None
        if grid is not None:
            check_params(grid)
    except ValueError as error:
        raise PalestrasError(str(error)) from error

    talks, _ = read_talks_csv(arguments.data)
    try:
        result = tune(talks, grid=grid, n_iter=arguments.n_iter, n_splits=arguments.folds, k=arguments.k,
                      n_jobs=arguments.n_jobs, random_state=arguments.seed)
    except ValueError as error:
        if grid is None:  # the built-in search space failing is a bug: keep the traceback
            raise
        # scikit-learn checks parameters when fitting and raises a ValueError naming the
        # allowed values (tfidf__min_df=-1); other values fail there too (max_df below min_df).
        raise PalestrasError(f"--param: {error}") from error
    if arguments.json:
        json.dump(result.to_json(arguments.top), sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print("\n".join(result.lines(arguments.top)))
    return 0


def _update(arguments) -> int:
    from .promotion import update

    thresholds = Thresholds(arguments.min_talks_share, arguments.max_empty_share, arguments.max_duplicate_share,
                            arguments.quality_tolerance, arguments.max_queries)
    for name, value in (("--min-talks-share", thresholds.min_talks_share),
                        ("--max-empty-share", thresholds.max_empty_share),
                        ("--max-duplicate-share", thresholds.max_duplicate_share),
                        ("--quality-tolerance", thresholds.quality_tolerance)):
        if not 0 <= value <= 1:
            raise PalestrasError(f"{name} must be between 0 and 1, got {value}")
    _check_positive("--max-queries", thresholds.max_queries)
    result = update(arguments.data, _store(arguments), thresholds, arguments.force, arguments.version)
    if result.promoted:
        _reload_service(arguments)
    print(result.summary())
    return 0 if result.promoted else 1


def _models_list(arguments) -> int:
    store = _store(arguments)
    current = store.pointer().get("version")
    rows = []
    for version in reversed(store.versions()):  # newest first
        evaluation = version.report.get("evaluation") or {}
        rows.append({
            "version": version.name,
            "current": version.name == current,
            "trained_at": version.trained_at,
            "talks": version.report.get("talks", {}).get("kept"),
            "precision@5": evaluation.get("precision@5"),
            "mrr": evaluation.get("mrr"),
            "promoted": version.report.get("promoted"),
            "forced": bool(version.report.get("forced")),
        })
    if arguments.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    if not rows:
        print(f"{store.folder}: no versions yet; make train or make update adds one")
        return 0
    print(f"{'':2}{'VERSION':<34}{'TRAINED':<22}{'TALKS':>7}{'P@5':>7}{'MRR':>7}  NOTE")
    for row in rows:
        note = ("forced" if row["forced"] else "") or ("refused" if row["promoted"] is False else "")
        print(f"{'*' if row['current'] else '':2}{row['version']:<34}{row['trained_at'] or '?':<22}"
              f"{_number(row['talks'], ',')}{_number(row['precision@5'], '.3f')}{_number(row['mrr'], '.3f')}  {note}")
    print("* current")
    return 0


def _models_show(arguments) -> int:
    version = _store(arguments).version(arguments.name)
    json.dump({"version": version.name, "folder": str(version.folder), **version.report}, sys.stdout,
              ensure_ascii=False, indent=2)
    print()
    return 0


def _models_init(arguments) -> int:
    from .promotion import adopt, update

    store = _store(arguments)
    current = store.current()
    if current is not None:
        print(f"{store.folder}: current version {current.name}")
        return 0
    legacy = store.folder / "model.pkl"
    if legacy.is_file():
        version = adopt(legacy, store)
        print(f"adopted {legacy} as {version.name}, the first version of {store.folder}")
        return 0
    result = update(arguments.data, store)
    print(result.summary())
    return 0 if result.promoted else 1


def _models_promote(arguments) -> int:
    from .model import Model

    store = _store(arguments)
    with store.lock():
        version = store.version(arguments.name)
        Model.deserialize(version.model_path)  # refuse a version that would not load: before the switch
        store.promote(version.name)
    _reload_service(arguments)
    print(f"promoted {version.name}")
    return 0


def _models_rollback(arguments) -> int:
    store = _store(arguments)
    with store.lock():
        replaced = store.current()
        version = store.rollback()
    _reload_service(arguments)
    print(f"rolled back to {version.name} (was {replaced.name})")
    return 0


def _store(arguments):
    from .store import ModelStore

    return ModelStore(arguments.models_dir, keep=arguments.keep)


def _reload_service(arguments) -> None:
    """SIGHUP to each running service whose pid one of the ``--pidfile`` (paths or glob
    patterns) holds: gunicorn then loads the store's current version, with no
    failed request. All at once: each replica keeps its old workers serving
    until the new ones are up, so no replica stops answering."""
    pidfiles = arguments.pidfile or arguments.pidfile_default
    reloaded = 0
    for path in sorted({match for pattern in pidfiles for match in (glob.glob(pattern) or [pattern])}):
        try:
            pid = int(Path(path).read_text().strip())
            os.kill(pid, signal.SIGHUP)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            continue
        reloaded += 1
        print(f"reloading the service (pid {pid})")
    if not reloaded:
        print(f"no running service ({', '.join(pidfiles)}): the next start serves the new current version")


def _number(value, spec: str) -> str:
    return f"{'-' if value is None else format(value, spec):>7}"


def _check_k(k: int) -> None:
    from .metrics import RANKING_DEPTH

    if not 1 <= k <= RANKING_DEPTH:
        raise PalestrasError(f"--k must be between 1 and {RANKING_DEPTH} (the depth of the rankings), got {k}")


def _check_positive(option: str, value: int) -> None:
    if value < 1:
        raise PalestrasError(f"{option} must be at least 1, got {value}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
