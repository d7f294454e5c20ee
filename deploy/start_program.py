"""How supervisord starts each program of the stack (deploy/supervisord.conf):

    start_program.py --signal TERM [--wait-for URL ...] -- COMMAND [ARGUMENT ...]

becomes COMMAND (exec: same process, so supervisord signals COMMAND itself).

``--signal``: COMMAND gets this signal when supervisord dies, however it dies
(Linux's PR_SET_PDEATHSIG, kept across exec). supervisord killed by SIGKILL
(a terminal or a process manager that stops a process group, then kills it)
would otherwise leave its programs running without it: a replica holding its
port and pid file, so that the next start fails. A gunicorn master that stops
stops its workers; one killed outright, its workers notice within a second.

``--wait-for``: COMMAND starts only once one of the URLs answers 200 (nginx
waits for a replica's /health: its port, once open, never answers 503 because
every replica is still loading its model). supervisord stopping the stack
meanwhile (any of TERM, INT, QUIT) ends the wait.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import time
import urllib.error
import urllib.request

PR_SET_PDEATHSIG = 1
# The replicas are on loopback: no http_proxy from the environment in between.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def die_with_parent(signal_number: int) -> None:
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal_number, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    # Elsewhere (a developer's macOS) programs may outlive a killed supervisord, as before.
    if os.getppid() != parent:  # the parent died before the signal was asked for
        sys.exit(1)


def answers(url: str) -> bool:
    try:
        with DIRECT.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):  # refused, still booting, or an error status
        return False


def wait_for_any(urls: list[str], name: str) -> None:
    def stop(number, frame):
        sys.exit(0)

    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(number, stop)
    print(f"{name}: starts once one of {', '.join(urls)} answers", flush=True)
    while not any(answers(url) for url in urls):
        time.sleep(0.2)
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(number, signal.SIG_DFL)


def main(argv: list[str]) -> None:
    if "--" not in argv:
        print(f"usage: {__doc__.split(chr(10))[2].strip()}", file=sys.stderr)
        sys.exit(2)
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="start_program.py")
    parser.add_argument("--signal", required=True, choices=["TERM", "QUIT", "INT", "KILL"],
                        help="sent to COMMAND when supervisord dies")
    parser.add_argument("--wait-for", nargs="+", default=[], metavar="URL")
    options, command = parser.parse_args(argv[:split]), argv[split + 1:]
    if not command:
        parser.error("no COMMAND after --")
    die_with_parent(signal.Signals[f"SIG{options.signal}"])
    if options.wait_for:
        wait_for_any(options.wait_for, os.path.basename(command[0]))
    os.execv(command[0], command)

if __name__ == "__main__":
    main(sys.argv[1:])
