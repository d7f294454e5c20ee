"""The command line, stopped at a named point of its writes, for a test to kill it there.

    python tests/support/pausing_cli.py POINT [text_similarity_model arguments...]

POINT is ``fsync:N`` (the Nth ``os.fsync``: a file's data is written, not yet
renamed into place) or ``rename:TEXT`` (the first ``os.rename``/``os.replace``
whose source or destination contains TEXT, before it happens). There the
process prints ``paused at POINT`` on stderr and waits to be killed; a test
reads that line and sends SIGKILL, so the kill lands inside the write every
time, not at a moment that may miss it. The command is otherwise the real one
(``python -m text_similarity_model``); only tests use this.
"""

import os
import runpy
import sys
import time


def pause(point: str) -> None:
    print(f"paused at {point}", file=sys.stderr, flush=True)
    while True:
        time.sleep(60)


def install(point: str) -> None:
    kind, _, argument = point.partition(":")
    if kind == "fsync":
        real_fsync, calls = os.fsync, [0]

        def fsync(descriptor):
            real_fsync(descriptor)
            calls[0] += 1
            if calls[0] == int(argument):
                pause(point)

        os.fsync = fsync
    elif kind == "rename":
        for name in ("rename", "replace"):
            real = getattr(os, name)

            def renaming(source, destination, *args, _real=real, **kwargs):
                if argument in str(source) or argument in str(destination):
                    pause(point)
                return _real(source, destination, *args, **kwargs)

            setattr(os, name, renaming)
    else:
        sys.exit(f"pausing_cli: unknown point {point!r}: fsync:N or rename:TEXT")


if __name__ == "__main__":
    install(sys.argv[1])
    sys.argv = ["text_similarity_model", *sys.argv[2:]]
    runpy.run_module("text_similarity_model", run_name="__main__", alter_sys=True)
