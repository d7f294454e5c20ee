"""``evaluate`` and ``tune``: how good the related talks are, and which parameters make them better."""

from __future__ import annotations

import json
import sys

from ..errors import PalestrasError
from . import options


def add_commands(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="measure the related talks (P@k, MRR, nDCG@k by track) of the baseline and default configurations",
        description="Each talk's title and description is a query; a talk in the answer is relevant when it has "
        "the query's trilha. Leave-one-out by default: every talk against all the others. With --tracks, the "
        "suggested tracks instead: top-1 and top-3 accuracy of the track classifier, its queries' labels held out. "
        "With --judged FILE, relevance judged by reading, the primary measure (docs/quality.md): each configuration "
        "trained on the file's corpus years, its queries' top 10 against the graded pairs.",
    )
    # Optional here only so that --tracks DATA.csv reads as it is written (see _read_tracks_option).
    options.add_data(evaluate, options.LABELLED_DATA_HELP, nargs="?")
    options.add_k(evaluate)
    protocol = evaluate.add_mutually_exclusive_group()
    protocol.add_argument("--split-year", type=int, metavar="Y",
                          help="queries: the talks of year Y; corpus: the talks before Y")
    protocol.add_argument("--repeats", action="store_true",
                          help="measure same_talk instead: precision and recall of the re-given talks found, every "
                               "talk against all the others, labels from shared normalised titles and descriptions")
    evaluate.add_argument("--tracks", nargs="?", const=True, metavar="DATA.csv",
                          help="measure the suggested tracks instead: top-1 and top-3 accuracy of the track classifier, "
                               "leave-one-out (or --split-year Y), the held-out talks' labels never reaching it")
    protocol.add_argument("--judged", metavar="JUDGED.json",
                          help="measure against relevance judged by reading: nDCG@10, P@5 (grade >= 1, grade 2), "
                               "judged share of the top 10 and same-track P@5 (a proxy), see JUDGED.md")
    evaluate.add_argument("--judged-extra", metavar="EXTRA.json",
                          help="with --judged: a second judged file of new pairs, merged in (it may not change a grade)")
    evaluate.add_argument("--worst", type=int, metavar="N",
                          help="show only the N worst tracks (default all); --tracks N, its former name, still works")
    options.add_json(evaluate)
    evaluate.set_defaults(command=evaluate_command)

    tune = commands.add_parser(
        "tune",
        help="search pipeline parameters by cross-validation and print the ranked configurations",
        description="Folds of talks are queries against a pipeline fitted on the other folds; configurations "
        "are ranked by mean precision@k. Without --param, RandomizedSearchCV draws --n-iter configurations "
        "of the search space; with --param, GridSearchCV tries every combination of the given values.",
    )
    options.add_data(tune, options.LABELLED_DATA_HELP)
    tune.add_argument("--param", action="append", default=[], metavar="NAME=V1,V2",
                      help="a grid parameter and its values, e.g. tfidf__min_df=1,2 (repeatable)")
    tune.add_argument("--n-iter", type=int, default=60, help="configurations drawn without --param (default 60)")
    tune.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    options.add_k(tune)
    tune.add_argument("--judged", metavar="JUDGED.json",
                      help="rank configurations by judged nDCG@10 instead: each trained on the file's corpus years, "
                           "scored on its judged queries (no folds)")
    tune.add_argument("--n-jobs", type=int, default=2, help="parallel fits (default 2)")
    tune.add_argument("--seed", type=int, default=0, help="seed of the folds and of the draws (default 0)")
    tune.add_argument("--top", type=int, metavar="N", help="show only the N best configurations (default all)")
    options.add_json(tune)
    tune.set_defaults(command=tune_command)


def evaluate_command(arguments) -> int:
    from ..corpus import read_talks_csv
    from ..quality.evaluation import evaluate_configurations, repeat_detection, report_json, report_lines

    options.check_k(arguments.k)
    _read_tracks_option(arguments)
    if arguments.worst is not None:
        options.check_positive("--worst", arguments.worst)
    if arguments.tracks and (arguments.repeats or arguments.judged):
        raise PalestrasError(f"--tracks and {'--repeats' if arguments.repeats else '--judged'} measure different "
                             "things; pass one of them")
    if arguments.judged_extra and not arguments.judged:
        raise PalestrasError("--judged-extra adds pairs to a judged file: pass --judged FILE too")
    talks, _ = read_talks_csv(arguments.data)
    if arguments.judged:
        from ..quality import judged

        judged_set = judged.read_judged(arguments.judged, talks, arguments.judged_extra)
        evaluations = judged.evaluate_configurations(judged_set)
        _print(arguments, lambda: judged.report_json(judged_set, evaluations),
               lambda: judged.report_lines(judged_set, evaluations, f" of {arguments.data}"))
        return 0
    if arguments.tracks:
        from ..quality import track_evaluation

        evaluation = (track_evaluation.leave_one_out(talks) if arguments.split_year is None
                      else track_evaluation.split_year(talks, arguments.split_year))
        _print(arguments, evaluation.json, lambda: evaluation.lines(f" of {arguments.data}", arguments.worst))
        return 0
    if arguments.repeats:
        evaluation = repeat_detection(talks)
        _print(arguments, evaluation.json, lambda: evaluation.lines(f" of {arguments.data}"))
        return 0
    evaluations = evaluate_configurations(talks, k=arguments.k, split_year_at=arguments.split_year)
    _print(arguments, lambda: report_json(evaluations),
           lambda: report_lines(evaluations, f" of {arguments.data}", arguments.worst))
    return 0


def _read_tracks_option(arguments) -> None:
    """``--tracks`` as written: ``--tracks DATA.csv`` (the option took the
    file), ``DATA.csv --tracks``, or the former ``--tracks N`` (the N worst
    tracks, now ``--worst N``)."""
    value = arguments.tracks
    if isinstance(value, str):
        if value.isdigit():
            arguments.tracks = None
            arguments.worst = int(value) if arguments.worst is None else arguments.worst
        elif arguments.data is None:
            arguments.data, arguments.tracks = value, True
        else:
            raise PalestrasError(f"--tracks takes no value, got {value!r} besides {arguments.data!r}; "
                                 "write evaluate --tracks DATA.csv")
    if arguments.data is None:
        raise PalestrasError("evaluate needs the talks CSV: text_similarity_model evaluate DATA.csv")


def tune_command(arguments) -> int:
    from ..corpus import read_talks_csv
    from ..quality.tuning import check_params, parse_grid, tune

    options.check_k(arguments.k)
    for option in ("--n-iter", "--n-jobs", "--top"):
        value = getattr(arguments, option[2:].replace("-", "_"))
        if value is not None:
            options.check_positive(option, value)
    if arguments.folds < 2:
        raise PalestrasError(f"--folds must be at least 2, got {arguments.folds}")
    try:
        grid = parse_grid(arguments.param) if arguments.param else None
        if grid is not None:
            check_params(grid)
    except ValueError as error:
        raise PalestrasError(str(error)) from error

    talks, _ = read_talks_csv(arguments.data)
    judged = None
    if arguments.judged:
        from ..quality.judged import read_judged

        judged = read_judged(arguments.judged, talks)
    try:
        result = tune(talks, grid=grid, n_iter=arguments.n_iter, n_splits=arguments.folds, k=arguments.k,
                      n_jobs=arguments.n_jobs, random_state=arguments.seed, judged=judged)
    except ValueError as error:
        if grid is None:  # the built-in search space failing is a bug: keep the traceback
            raise
        # scikit-learn checks parameters when fitting and raises a ValueError naming the
        # allowed values (tfidf__min_df=-1); other values fail there too (max_df below min_df).
        raise PalestrasError(f"--param: {error}") from error
    _print(arguments, lambda: result.to_json(arguments.top), lambda: result.lines(arguments.top))
    return 0


def _print(arguments, as_json, as_lines) -> None:
    """The results as JSON with ``--json``, else as lines of text."""
    if arguments.json:
        json.dump(as_json(), sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print("\n".join(as_lines()))
