"""``text_similarity_model``: train a model from a talks CSV and query it.

    text_similarity_model train DATA.csv MODEL.pkl [--version V]
    text_similarity_model predict MODEL.pkl --title T --description D [-n 5]

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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
