"""gunicorn settings for the palestras API (``gunicorn -c gunicorn.conf.py``).

Environment: ``BIND``, ``WORKERS``, ``PIDFILE``, ``LOG_LEVEL``, ``STORE_POLL_SECONDS`` (defaults
and meaning in ``text_similarity_model/settings.py``), ``PROMETHEUS_MULTIPROC_DIR``
(default a private temporary directory: where the workers keep their metrics).
"""

import atexit
import gc
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading

from text_similarity_model import settings

wsgi_app = "wsgi:app"
bind = settings.BIND.get()
workers = int(settings.WORKERS.get())
# gevent: a worker serves each connection in a greenlet, so connections that
# send their request slowly (or not at all: dropped after `keepalive`, 2 s)
# don't hold it while others wait; with sync workers, one such connection per
# worker stopped the service. The app's code never yields, so a worker still
# runs one request at a time, as with sync, and spaCy is never used from two
# threads at once (gthread's risk). Measured in docs/deploying.md, "Slow clients".
# It is gunicorn's gevent worker, answering what gunicorn refuses itself (a
# request line or headers too long, a malformed request) as JSON, as the API does.
worker_class = "api.worker.JsonErrorsGeventWorker"
timeout = 30
# A worker is replaced, between two requests, after 10,000 to 11,000 of them
# (the jitter keeps workers from restarting together). spaCy's memory zones
# free what it learns of each query's new words (steps/lemmatizer.py), but
# its hash tables still grow in steps with every word it has ever seen: this
# bounds them, and whatever else a long-lived worker would gather
# (benchmarks/memory_growth_bench.py; docs/performance.md).
max_requests = 10_000
max_requests_jitter = 1_000
# gunicorn's maximum (the default is 4,094): the longest query string the
# OpenAPI document allows fits (api/schemas.py, MAX_REQUEST_LINE).
limit_request_line = 8190
graceful_timeout = 30
pidfile = settings.PIDFILE.get()
accesslog = "-"
errorlog = "-"
loglevel = settings.LOG_LEVEL.get()
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

# How often the master looks at the store's current.json (when_ready below); checked
# here, so that a bad value stops the start with one line rather than a traceback.
try:
    _store_poll_seconds = settings.STORE_POLL_SECONDS.seconds()
except ValueError as error:
    sys.exit(f"error: {error}")


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
    # Whatever the store's files hold, this returns: a model that can't be loaded is refused with
    # one log line and the old one keeps serving (an exception here would stop the master).
    logging.getLogger("gunicorn.error").info("SIGHUP: reloading the model")
    if _services(server):
        _services(server).model_holder.reload()


def when_ready(server):
    # Services on several hosts share the store but not pid files to signal: each master
    # follows current.json by itself, sending itself the SIGHUP a promotion would have sent.
    # A thread of the master only (started after the app is preloaded; fork copies only the
    # forking thread, so no worker runs one), and the reload is SIGHUP's, in the main thread:
    # signalled directly, so that its wait for signals is interrupted at once.
    holder = _services(server) and _services(server).model_holder
    if holder and holder.store is not None and _store_poll_seconds > 0:
        main = threading.main_thread().ident
        holder.watch_store(_store_poll_seconds, lambda: signal.pthread_kill(main, signal.SIGHUP))


def pre_fork(server, worker):
    # Objects alive now are never collected: keeps the GC from touching (and so
    # copying) the shared model pages in every worker.
    gc.freeze()


def post_worker_init(worker):
    # gevent has patched threading by now. The request log's writer starts
    # here, before any request: started by the first requests, two of them
    # could race for a lock made in the master before the patching, a real
    # lock that would block the whole worker.
    if _services(worker):
        _services(worker).request_log.start()


def post_request(worker, req, environ, resp):
    # gevent: this connection's next request waits until the worker's other
    # connections have had their turn (gevent.idle: nothing else is ready).
    # A keep-alive client whose next request has already arrived would
    # otherwise be served again and again while the others wait: under wrk,
    # p99 450 ms without this, 63 ms with gevent.sleep(0), 20 ms with idle
    # (sync: 13 ms; docs/deploying.md, "Slow clients").
    gevent = sys.modules.get("gevent")  # imported by gevent workers only
    if gevent:
        gevent.idle()


def worker_exit(server, worker):
    # Graceful stop (SIGTERM, or an old worker after SIGHUP): write what's queued.
    if _services(server):
        _services(server).request_log.close()
    # Python's exit would then collect the logging handlers, whose callbacks
    # take a lock gevent has patched and already torn down: "Exception ignored
    # in: _removeHandlerRef ... TypeError" after every gevent worker (gevent
    # issue #2148). The worker logs nothing more: flush them and forget them.
    logging.shutdown()
    logging._handlerList.clear()


def child_exit(server, worker):
    # A dead worker's gauges (pending rows, the model it served) leave the sums;
    # its counters stay in them.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid())  # in a directory shared with other replicas
