"""A supervisord event listener (deploy/supervisord.conf): when a program of the
stack can't be started (FATAL: it kept exiting before it was up, e.g. a replica
whose model fails to load), stop the whole stack with one line saying so,
rather than leave nginx answering 503 with nobody behind it. A program that dies
after it was up is not FATAL: supervisord restarts it."""

import os
import signal
import sys


def fields(line: str) -> dict:
    return dict(token.split(":", 1) for token in line.split())


def main() -> None:
    while True:
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:  # supervisord is gone
            return
        header = fields(line)
        payload = fields(sys.stdin.read(int(header["len"])).split("\n", 1)[0])
        if header["eventname"] == "PROCESS_STATE_FATAL":
            print(f"run-prod: {payload['processname']} could not be started (its messages are above): "
                  "stopping the stack", file=sys.stderr, flush=True)
            os.kill(os.getppid(), signal.SIGTERM)  # supervisord: stops the others in order
        sys.stdout.write("RESULT 2\nOK")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
