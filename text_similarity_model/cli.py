"""``text_similarity_model``: train a model from a talks CSV and query it.

    text_similarity_model train DATA.csv MODEL.pkl [--version V]
    text_similarity_model predict MODEL.pkl --title T --description D [-n 5]
    text_similarity_model evaluate DATA.csv [--k 5] [--split-year Y] [--json]
    text_similarity_model tune DATA.csv [--n-iter 60] [--param NAME=V1,V2 ...] [--json]

Errors a user can cause print one line naming the input and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import PalestrasError

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
    train.add_argument("data", metavar="DATA.csv", help="talks CSV with at least title,description columns")
    train.add_argument("model", metavar="MODEL.pkl", help="where to write the model (and MODEL.pkl.json)")
    train.add_argument("--version", help="model version reported by the API (default: time and data hash)")
    train.set_defaults(command=_train)

    predict = commands.add_parser("predict", help="print the talks related to a query, as JSON")
    predict.add_argument("model", metavar="MODEL.pkl")
    predict.add_argument("--title", default="", help="the query talk's title")
    predict.add_argument("--description", default="", help="the query talk's description")
    predict.add_argument("-n", "--n-results", type=int, default=3, help="how many talks (default 3)")
    predict.set_defaults(command=_predict)

    evaluate = commands.add_parser(
        "evaluate",
        help="measure the related talks (P@k, MRR, nDCG@k by track) of the baseline and default configurations",
        description="Each talk's title and description is a query; a talk in the answer is relevant when it has "
        "the query's trilha. Leave-one-out by default: every talk against all the others.",
    )
    evaluate.add_argument("data", metavar="DATA.csv", help="talks CSV with title, description and trilha columns")
    evaluate.add_argument("--k", type=int, default=5, help="cut-off of precision@k and nDCG@k (default 5)")
    evaluate.add_argument("--split-year", type=int, metavar="Y",
                          help="queries: the talks of year Y; corpus: the talks before Y")
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
    tune.add_argument("--k", type=int, default=5, help="cut-off of precision@k and nDCG@k (default 5)")
    tune.add_argument("--n-jobs", type=int, default=2, help="parallel fits (default 2)")
    tune.add_argument("--seed", type=int, default=0, help="seed of the folds and of the draws (default 0)")
    tune.add_argument("--top", type=int, metavar="N", help="show only the N best configurations (default all)")
    tune.add_argument("--json", action="store_true", help="print the results as JSON")
    tune.set_defaults(command=_tune)
    return parser


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


def _evaluate(arguments) -> int:
    from .data import read_talks_csv
    from .evaluation import evaluate_configurations, report_json, report_lines

    _check_k(arguments.k)
    if arguments.tracks is not None:
        _check_positive("--tracks", arguments.tracks)
    talks, _ = read_talks_csv(arguments.data)
    evaluations = evaluate_configurations(talks, k=arguments.k, split_year_at=arguments.split_year)
    if arguments.json:
        json.dump(report_json(evaluations), sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print("\n".join(report_lines(evaluations, f" of {arguments.data}", arguments.tracks)))
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
    from sklearn.utils._param_validation import InvalidParameterError

    talks, _ = read_talks_csv(arguments.data)
    try:
        result = tune(talks, grid=grid, n_iter=arguments.n_iter, n_splits=arguments.folds, k=arguments.k,
                      n_jobs=arguments.n_jobs, random_state=arguments.seed)
    except InvalidParameterError as error:  # e.g. tfidf__min_df=-1: scikit-learn names the allowed values
        raise PalestrasError(f"--param: {error}") from error
    if arguments.json:
        json.dump(result.to_json(arguments.top), sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print("\n".join(result.lines(arguments.top)))
    return 0


def _check_k(k: int) -> None:
    from .metrics import RANKING_DEPTH

    if not 1 <= k <= RANKING_DEPTH:
        raise PalestrasError(f"--k must be between 1 and {RANKING_DEPTH} (the depth of the rankings), got {k}")


def _check_positive(option: str, value: int) -> None:
    if value < 1:
        raise PalestrasError(f"{option} must be at least 1, got {value}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
