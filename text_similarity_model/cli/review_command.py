"""``review``: a whole call for papers against the past talks, into a report."""

from __future__ import annotations

import sys
from pathlib import Path

from ..contract import N_RELATED
from . import options


def add_commands(commands) -> None:
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
    options.add_n_results(review, N_RELATED, "past talks per submission")
    options.add_models_dir(review)
    review.set_defaults(command=review_call)


def review_call(arguments) -> int:
    from ..review.report import check_report_path, write_report

    options.check_n_results(arguments.n_results)
    report_format = check_report_path(arguments.output)  # before reading anything
    from ..model import Model
    from ..review.batch import review
    from ..review.submissions import read_submissions
    from ..store.versions import ModelStore

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
