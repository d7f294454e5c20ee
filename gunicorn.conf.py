"""gunicorn settings for the palestras API (``gunicorn -c gunicorn.conf.py``).

Environment: ``BIND`` (default 127.0.0.1:5000), ``WORKERS`` (default one per
core), ``PIDFILE`` (default ``paths.PIDFILE``, the checkout's
instance/gunicorn.pid, where ``make reload`` and the commands that swap the
served model find the service), ``PROMETHEUS_MULTIPROC_DIR`` (default a
private temporary directory: where the workers keep their metrics).
"""

import atexit
import gc
import logging
import os
import shutil
import tempfile

from text_similarity_model.paths import PIDFILE

wsgi_app = "wsgi:app"
bind = os.environ.get("BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WORKERS", os.cpu_count() or 1))
worker_class = "sync"
timeout = 30
graceful_timeout = 30
pidfile = os.environ.get("PIDFILE", str(PIDFILE))
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
# gunicorn's control socket is one per user by default: two services (or the
# tests' servers) would fight over it, and nothing here uses it.
control_socket_disable = True

# The app's own messages (model reloads, request-log failures) beside gunicorn's.
logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")

# The master loads the model once and the workers are forked from it, so they
# share its memory (copy-on-write). A preloaded app is not re-imported on
# SIGHUP: on_reload below swaps the model in the master before gunicorn forks
# the new workers, and refuses a model that fails verification.
preload_app = True

os.makedirs(os.path.dirname(pidfile) or ".", exist_ok=True)


def _remove_metrics_dir(path, master_pid):
    if os.getpid() == master_pid:  # workers inherit this atexit, and exit before the master
        shutil.rmtree(path, ignore_errors=True)


# Prometheus metrics (api/metrics.py): each worker keeps its values in files of
# one directory, which a scrape reads. It must be set before prometheus_client
# is imported (the app, preloaded after this file). A directory given by the
# caller (replicas sharing one) is the caller's: used as is, never wiped.
# SIGHUP runs this file again; the variable is set by then, so it is kept.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="palestras-metrics-")
    atexit.register(_remove_metrics_dir, os.environ["PROMETHEUS_MULTIPROC_DIR"], os.getpid())
    logging.getLogger("palestras.metrics").info("metrics of the workers in %s (removed at exit)",
                                                os.environ["PROMETHEUS_MULTIPROC_DIR"])


def _services(server):
    # None for another app served with these settings (benchmarks/floor_app.py).
    return server.app.wsgi().extensions.get("palestras")


def on_reload(server):
    logging.getLogger("gunicorn.error").info("SIGHUP: reloading the model")
    if _services(server):
        _services(server).model_holder.reload()


def pre_fork(server, worker):
    # Objects alive now are never collected: keeps the GC from touching (and so
    # copying) the shared model pages in every worker.
    gc.freeze()


def worker_exit(server, worker):
    # Graceful stop (SIGTERM, or an old worker after SIGHUP): write what's queued.
    if _services(server):
        _services(server).request_log.close()


def child_exit(server, worker):
    # A dead worker's gauges (pending rows, the model it served) leave the sums;
    # its counters stay in them.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid())  # in a directory shared with other replicas
