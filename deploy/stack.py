"""The production stack on one box (``make run-prod``): nginx on BIND in front of
REPLICAS gunicorn instances of the service, all under supervisord, in the foreground.

    .venv/bin/python deploy/stack.py [--check]

Environment (all optional; defaults and meaning in text_similarity_model/settings.py):
``BIND`` (where nginx listens), ``REPLICAS`` (gunicorn instances, each with the
repo's gunicorn.conf.py on its own loopback port and pid file
``PROD_DIR/replicas/replica-N.pid``), ``REPLICA_PORTS``, ``PROD_DIR``,
``TLS_CERT`` and ``TLS_KEY``, ``RATE_LIMIT`` and ``RATE_BURST``,
``REVIEW_RATE_LIMIT`` and ``REVIEW_RATE_BURST``, ``OPERATOR_ALLOW``, ``NGINX``;
``WORKERS``, ``DATABASE_URL``, ``MODELS_DIR``, ``MODEL_PATH`` are read by every
replica as ``make run`` reads them. ``PROMETHEUS_MULTIPROC_DIR`` is set to
``PROD_DIR/prometheus``, emptied at each start and shared by every replica.

Deals with what a previous run killed outright left in PROD_DIR (pid files,
programs still running without their supervisord: one line each), renders
deploy/nginx.conf and deploy/supervisord.conf into PROD_DIR, has nginx check
its configuration, then becomes supervisord. ``--check`` stops after checking
that nginx is installed.
"""

from __future__ import annotations

import grp
import ipaddress
import math
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from text_similarity_model import settings
from text_similarity_model.settings import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
BIN = Path(sys.executable).parent

# nginx's limits, in deploy/nginx.conf and in its messages (its read timeout:
# settings.READ_TIMEOUT). The request line and each header fit one buffer of this size (nginx's default).
HEADER_BUFFER_KB = 8
# A leftover replica gets gunicorn's graceful timeout (30 s) and a margin to stop.
LEFTOVER_STOP_SECONDS = 40


class StackError(Exception):
    """A problem the person starting the stack can fix; the message says how."""


def render(template: Path, values: dict) -> str:
    """``template`` with each ``{{name}}`` replaced by ``values[name]``."""
    def value(match: re.Match) -> str:
        if match.group(1) not in values:
            raise KeyError(f"{template}: no value for {{{{{match.group(1)}}}}}")
        return str(values[match.group(1)])

    return re.sub(r"\{\{(\w+)\}\}", value, template.read_text())


def host_and_port(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise StackError(f"BIND={bind!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)


def check_free(host: str, port: int, name: str) -> None:
    """Fail now, with the fix, rather than have supervisord retry a program that can't bind."""
    with socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as error:
            raise StackError(f"{name} {host}:{port} is not free ({error.strerror}): stop what uses it, or choose "
                             f"another port ({'BIND' if name == 'BIND' else 'REPLICA_PORTS'})") from None


def operator_allow(environ: dict) -> str:
    """OPERATOR_ALLOW as nginx's ``allow`` lines."""
    lines = []
    for entry in re.split(r"[\s,]+", settings.OPERATOR_ALLOW.get(environ).strip()):
        try:
            lines.append(f"            allow {ipaddress.ip_network(entry, strict=False)};")
        except ValueError:
            raise StackError(f"OPERATOR_ALLOW: {entry!r} is neither an address nor a network; give addresses or "
                             "networks separated by spaces, e.g. OPERATOR_ALLOW=\"127.0.0.1 ::1 10.0.0.7\"") from None
    return "\n".join(lines)


def upstream_servers(ports: list[int]) -> str:
    """Each replica as a primary taken out by one failure, and as a backup never taken out (deploy/nginx.conf)."""
    return "\n".join([*(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in ports),
                      *(f"        server 127.0.0.1:{p} backup max_fails=0;" for p in ports)])


# -- what a stack killed outright left behind ---------------------------------

def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command's name (state, ppid, pgrp...), or None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def running(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def environment_of(pid: int) -> dict:
    """PID's environment; empty if it can't be read (another user's process)."""
    try:
        entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return {}
    return dict(entry.decode(errors="replace").split("=", 1) for entry in entries if b"=" in entry)


def stop_leftover(pid: int, signal_number: int) -> None:
    """Stop PID (its process group if it leads one, as supervisord's programs do) with
    ``signal_number``, then SIGKILL if it is still running after LEFTOVER_STOP_SECONDS."""
    leader = os.getpgid(pid) == pid

    def members() -> list[int]:
        if not leader:
            return [pid] if running(pid) else []
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and (fields := _stat(int(entry.name))) and fields[2] == str(pid) \
                    and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
        return found

    for number, seconds in ((signal_number, LEFTOVER_STOP_SECONDS), (signal.SIGKILL, 5)):
        try:
            os.killpg(pid, number) if leader else os.kill(pid, number)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + seconds
        while members() and time.monotonic() < deadline:
            time.sleep(0.1)
        if not members():
            return
    raise StackError(f"pid {pid} left by a previous run does not stop: kill it (kill -KILL {pid})")


def note(message: str) -> None:
    print(f"run-prod: {message}", file=sys.stderr, flush=True)


def clear_previous_run(prod_dir: Path, nginx_dir: Path, replicas_dir: Path) -> None:
    """Refuse to start beside a stack running from the same PROD_DIR. Of one that was
    killed outright (its supervisord by SIGKILL, before deploy/start_program.py made
    its programs die with it), remove the pid files whose process is gone or is
    another program's (a reused pid: gunicorn would refuse to start, "Already
    running"), and stop its programs still running on their own: one line each."""
    pidfile = prod_dir / "supervisord.pid"
    pid = _read_pid(pidfile)
    if pid and running(pid) and f"{prod_dir / 'supervisord.conf'}" in command_line(pid):
        raise StackError(f"a stack already runs from PROD_DIR={prod_dir} (supervisord, pid {pid}): stop it "
                         f"(kill -TERM {pid}), or give this one another PROD_DIR")
    for pidfile in sorted(replicas_dir.glob("*.pid")):
        _take_over(pidfile, pidfile.stem, signal.SIGTERM,
                   lambda pid, pidfile=pidfile: environment_of(pid).get("PIDFILE") == str(pidfile), say_stale=True)
    _take_over(nginx_dir / "nginx.pid", "nginx", signal.SIGQUIT,
               lambda pid: f"-p {nginx_dir} " in command_line(pid), say_stale=False)


def _read_pid(pidfile: Path) -> int | None:
    try:
        text = pidfile.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else 0


def _take_over(pidfile: Path, name: str, stop_signal: int, ours, say_stale: bool) -> None:
    pid = _read_pid(pidfile)
    if pid is None:
        return
    if not pid or not running(pid):
        pidfile.unlink(missing_ok=True)
        if say_stale:
            note(f"{pidfile}: stale ({'no pid in it' if not pid else f'pid {pid} is not running'}), removed")
        return
    if not ours(pid):
        pidfile.unlink(missing_ok=True)
        if say_stale:
            note(f"{pidfile}: pid {pid} is not a replica of this stack (the pid was reused), removed")
        return
    parent = int((_stat(pid) or [0, 0])[1])
    if parent and "supervisord" in command_line(parent):
        raise StackError(f"{name} (pid {pid}) of another stack runs from PROD_DIR={pidfile.parents[1]}: stop that "
                         f"stack (its supervisord is pid {parent}), or give this one another PROD_DIR")
    note(f"{name} (pid {pid}) of a previous run is still running on its own: stopping it")
    stop_leftover(pid, stop_signal)
    pidfile.unlink(missing_ok=True)


def nginx_binary() -> str:
    nginx = settings.NGINX.get()
    if not shutil.which(nginx):
        raise StackError(f"nginx not found ({nginx}): apt install nginx")
    return nginx


def nginx_user() -> str:
    """nginx drops a root master's workers to another user: the checkout's owner,
    who can read the static files and the stack's folder (ignored unless root)."""
    if os.geteuid() != 0:
        return ""
    owner = pwd.getpwuid(os.stat(REPO_ROOT).st_uid)
    return f"user {owner.pw_name} {grp.getgrgid(owner.pw_gid).gr_name};"


def configure(environ: dict) -> tuple[Path, dict]:
    """Write the stack's configuration into PROD_DIR; the supervisord.conf path
    and the environment to run it with."""
    from api import MAX_BODY_BYTES
    from api.errors import kilobytes
    from api.review import CLI_HINT, MAX_REVIEW_BODY_BYTES

    nginx = nginx_binary()
    host, port = host_and_port(settings.STACK_BIND.get(environ))
    allow = operator_allow(environ)
    replicas = int(settings.REPLICAS.get(environ))
    if replicas < 1:
        raise StackError(f"REPLICAS={replicas}: at least 1")
    ports = [int(p) for p in re.split(r"[\s,]+", settings.REPLICA_PORTS.get(environ).strip()) if p]
    ports = ports or [port + n for n in range(1, replicas + 1)]
    if len(ports) != replicas:
        raise StackError(f"REPLICA_PORTS has {len(ports)} ports for REPLICAS={replicas}: give one per replica")

    prod_dir = settings.PROD_DIR.path(environ).resolve()
    nginx_dir, replicas_dir = prod_dir / "nginx", prod_dir / "replicas"
    control_socket = prod_dir / "supervisor.sock"
    if len(str(control_socket)) > 100:  # a Unix socket's path has at most 107 bytes
        raise StackError(f"PROD_DIR={prod_dir} is too long for supervisord's control socket in it: "
                         "give a shorter PROD_DIR")
    clear_previous_run(prod_dir, nginx_dir, replicas_dir)
    check_free(host, port, "BIND")
    for replica_port in ports:
        check_free("127.0.0.1", replica_port, "replica port")
    for folder in (nginx_dir / "tmp", replicas_dir):
        folder.mkdir(parents=True, exist_ok=True)
    # Metrics of a previous run would be added to this one's: empty once, here, for every replica.
    metrics_dir = prod_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir()

    tls_cert, tls_key = settings.TLS_CERT.get(environ), settings.TLS_KEY.get(environ)
    if bool(tls_cert) != bool(tls_key):
        raise StackError("TLS needs both TLS_CERT and TLS_KEY (PEM files), or neither for plain HTTP")
    listen = f"        listen {host}:{port}{' ssl' if tls_cert else ''};"
    if tls_cert:
        for name, path in (("TLS_CERT", tls_cert), ("TLS_KEY", tls_key)):
            if not Path(path).is_file():
                raise StackError(f"{name}={path}: no such file")
        listen += (f"\n        ssl_certificate {Path(tls_cert).resolve()};"
                   f"\n        ssl_certificate_key {Path(tls_key).resolve()};"
                   "\n        ssl_protocols TLSv1.2 TLSv1.3;"
                   "\n        ssl_session_cache shared:tls:10m;")
    rate_limit, rate_burst = int(settings.RATE_LIMIT.get(environ)), int(settings.RATE_BURST.get(environ))
    review_rate_limit = int(settings.REVIEW_RATE_LIMIT.get(environ))
    review_rate_burst = int(settings.REVIEW_RATE_BURST.get(environ))
    read_timeout = int(settings.READ_TIMEOUT.get(environ))

    (nginx_dir / "nginx.conf").write_text(render(DEPLOY / "nginx.conf", {
        "nginx_dir": nginx_dir,
        "user": nginx_user(),
        "max_body_bytes": MAX_BODY_BYTES,
        "max_body_kb": kilobytes(MAX_BODY_BYTES),
        "review_body_bytes": MAX_REVIEW_BODY_BYTES,
        "review_body_kb": kilobytes(MAX_REVIEW_BODY_BYTES),
        "cli_hint": CLI_HINT,
        "rate_limit": rate_limit,
        "rate_burst": rate_burst,
        "review_rate_limit": review_rate_limit,
        "review_rate_burst": review_rate_burst,
        "review_retry_after": math.ceil(60 / max(review_rate_limit, 1)),
        "upstream_servers": upstream_servers(ports),
        "operator_allow": allow,
        "read_timeout": read_timeout,
        "header_buffer_kb": HEADER_BUFFER_KB,
        "listen": listen,
        "static_dir": REPO_ROOT / "api" / "static",
    }))
    # supervisord expands %(...)s in its values: a literal % is written %%.
    escape = {name: str(value).replace("%", "%%") for name, value in {
        "repo": REPO_ROOT, "python": sys.executable, "gunicorn": BIN / "gunicorn", "nginx": nginx,
        "nginx_dir": nginx_dir, "prod_dir": prod_dir, "control_socket": control_socket,
        "start_program": DEPLOY / "start_program.py",
        "replica_health": " ".join(f"http://127.0.0.1:{p}/health" for p in ports),
    }.items()}
    sections = "".join(
        render(DEPLOY / "supervisord-replica.conf", {
            **escape, "number": number, "port": replica_port,
            "pidfile": str(replicas_dir / f"replica-{number}.pid").replace("%", "%%"),
        })
        for number, replica_port in enumerate(ports, start=1))
    supervisord_conf = prod_dir / "supervisord.conf"
    supervisord_conf.write_text(render(DEPLOY / "supervisord.conf", {**escape, "replicas": sections}))

    # nginx's own check: a mistake stops the start here, with nginx's message.
    checked = subprocess.run([nginx, "-t", "-q", "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf"),
                              "-e", "stderr"], capture_output=True, text=True)
    if checked.returncode != 0:
        raise StackError(f"nginx refused {nginx_dir / 'nginx.conf'}: {checked.stderr.strip()}")
    return supervisord_conf, {**environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}


def main() -> int:
    try:
        if sys.argv[1:] == ["--check"]:
            nginx_binary()
            return 0
        supervisord_conf, environ = configure(dict(os.environ))
    except StackError as error:
        print(f"run-prod: {error}", file=sys.stderr)
        return 2
    # Become supervisord: a signal to this process (Ctrl-C, SIGTERM, systemd) reaches it.
    os.execve(BIN / "supervisord", [str(BIN / "supervisord"), "-c", str(supervisord_conf)], environ)


if __name__ == "__main__":
    sys.exit(main())
