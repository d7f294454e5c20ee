"""``text_similarity_model``: the command line. One module per group of commands.

    text_similarity_model train-file DATA.csv MODEL.pkl [--version V]
    text_similarity_model predict MODEL.pkl --title T --description D [-n 5]
    text_similarity_model review SUBMISSIONS [MODEL.pkl] -o REPORT.html|.json|.csv [-n 5]
    text_similarity_model evaluate DATA.csv [--k 5] [--split-year Y | --repeats | --judged J.json] [--tracks] [--json]
    text_similarity_model tune DATA.csv [--n-iter 60] [--param NAME=V1,V2 ...] [--judged J.json] [--json]
    text_similarity_model update DATA.csv [--models-dir models] [--pidfile P] [--force] [thresholds]
    text_similarity_model models list|show VERSION|promote VERSION|rollback|init|reload [--models-dir models]

Errors a user can cause print one line naming the input and exit with 2.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import PalestrasError
from . import model_commands, quality_commands, review_command, store_commands

USAGE_ERROR = 2

#: Each module adds its commands to the parser (``add_commands``).
COMMAND_MODULES = (model_commands, review_command, quality_commands, store_commands)


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        return arguments.command(arguments)
    except PalestrasError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="text_similarity_model",
        description="Train and query the related-talks model (lemmas -> TF-IDF -> cosine).",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_commands(commands)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
