"""``train-file``: train a lone model file; ``predict``: query one."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..contract import N_RESULTS
from ..errors import PalestrasError
from . import options


def add_commands(commands) -> None:
    description = ("Writes one model file, outside the model store: for a notebook, a benchmark, or a service "
                   "started with MODEL_PATH. To train a new version of the store the service serves, checked "
                   "before it becomes current, use: text_similarity_model update DATA.csv (make train).")
    for name, help in (("train-file", "train a model on a talks CSV into a lone file, written atomically"),
                       ("train", None)):  # the old spelling, kept working: it says the new one
        train = commands.add_parser(name, description=description, **({"help": help} if help else {}))
        options.add_data(train)
        train.add_argument("model", metavar="MODEL.pkl", help="where to write the model (and MODEL.pkl.json)")
        train.add_argument("--version", help="model version reported by the API (default: time and data hash)")
        train.set_defaults(command=train_file if help else _train_old_spelling)

    predict = commands.add_parser("predict", help="print the talks related to a query, as JSON")
    predict.add_argument("model", metavar="MODEL.pkl")
    predict.add_argument("--title", default="", help="the query talk's title")
    predict.add_argument("--description", default="", help="the query talk's description")
    options.add_n_results(predict, N_RESULTS)
    predict.set_defaults(command=predict_command)


def train_file(arguments) -> int:
    started = time.perf_counter()
    # Imported here so `--help` and argument errors answer instantly.
    from ..corpus import read_talks_csv
    from ..model import Model
    from ..model_file import check_writable_destination

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


def _train_old_spelling(arguments) -> int:
    print("note: `text_similarity_model train` is now `text_similarity_model train-file` (a lone model file); "
          "a new version of the model store is `text_similarity_model update`", file=sys.stderr)
    return train_file(arguments)


def predict_command(arguments) -> int:
    if not (arguments.title.strip() or arguments.description.strip()):
        raise PalestrasError("give --title or --description (or both): the query has no text")
    options.check_n_results(arguments.n_results)
    from ..model import Model

    model = Model.deserialize(arguments.model)
    answer = model.predict({"title": arguments.title, "description": arguments.description}, arguments.n_results)
    json.dump(answer, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0
