"""A local TDC site for the scraper's tests and benchmark.

The real site cannot be reached from the test machines, so the crawl is run
against pages following the markup contract (``../shared/tdc-site/README.md``)
served from 127.0.0.1. One module serves the tests and the benchmark:

- ``render_track_page`` / ``render_edition_page``: contract-following HTML
  (used by the benchmark to build a site from the real corpus, and by the
  parse tests for round trips);
- ``write_pages``: lays pages out as files, ``/tdc/2018/x`` → ``tdc/2018/x.html``;
- ``SiteServer``: serves such a folder over HTTP, 404 for unknown paths, and
  an HTTP 500 exactly once for chosen paths (the contract's flaky page), or
  for every request (a site failing half-way), or no answer at all (a site
  that hangs);
- ``run_crawl``: runs the real ``scrapy crawl tdc`` as a subprocess against
  it and returns the CSV rows and the crawl stats.

The hand-written fixture site with every case of the contract is in
``tests/fixtures/tdc_site/``.
"""

import csv
import html
import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from text_similarity_model.settings import REPO_ROOT

FIXTURE_SITE = REPO_ROOT / "tests" / "fixtures" / "tdc_site"

#: Settings for crawling a local site: no politeness delays (see settings.py).
LOCAL_CRAWL_SETTINGS = {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "False"}


# --- Pages ------------------------------------------------------------------


@dataclass(frozen=True)
class PageTalk:
    """A talk as a track page shows it.

    ``description`` is plain text: blank lines separate paragraphs (``<p>``),
    other line breaks become ``<br>``. None lists the talk in the schedule
    without a ``div.conteudo`` block, like the site's keynotes.
    """

    talk_id: str
    title: str
    description: str | None = None


def render_track_page(heading: str, schedule: Sequence[PageTalk]) -> str:
    """HTML of a track page listing ``schedule`` in one ``table.grade``.

    Like the real site: an opening row and a lunch row without
    ``a.palestra``, titles padded with newlines and spaces, text escaped into
    entities, and the description blocks in reverse schedule order. A talk
    listed twice in ``schedule`` gets two rows and one block.
    """
    rows = ['<tr><td>09:50</td><td>Abertura da trilha</td></tr>']
    for position, talk in enumerate(schedule):
        if position == len(schedule) // 2:
            rows.append('<tr><td>12:30</td><td>Almoço</td></tr>')
        rows.append(
            f'<tr><td>{10 + position % 12}:00</td><td>'
            f'<a class="palestra" href="#{html.escape(talk.talk_id)}">\n'
            f'            {html.escape(talk.title)}\n            </a>'
            f'<br><span class="palestrante">Palestrante {position + 1}</span></td></tr>'
        )
    blocks = {}
    for talk in reversed(schedule):
        if talk.description is not None and talk.talk_id not in blocks:
            blocks[talk.talk_id] = (
                f'<div class="conteudo" id="{html.escape(talk.talk_id)}">\n'
                f'  <h3>{html.escape(talk.title)}</h3>\n'
                f'  <div class="descricao">\n    {_paragraphs(talk.description)}\n  </div>\n'
                '</div>'
            )
    return _page(
        heading,
        f'<h1>{html.escape(heading)}</h1>\n'
        '<table class="table grade">\n<tr><th>Horário</th><th>Palestra</th></tr>\n'
        + "\n".join(rows)
        + '\n</table>\n<section class="palestras">\n'
        + "\n".join(blocks.values())
        + "\n</section>",
    )


def render_edition_page(heading: str, track_paths: Iterable[str]) -> str:
    """HTML of an edition's track list linking to ``track_paths``.

    The contract's links that are not tracks and lead nowhere in the edition
    (an external video site, ``javascript:;``, ``#top``) are always there.
    """
    buttons = "\n".join(
        f'<div class="btn-group"><a class="btn btn-trilha" href="{html.escape(path)}">'
        f'{html.escape(path.rsplit("/", 1)[-1])}</a></div>'
        for path in track_paths
    )
    return _page(
        heading,
        '<section class="trilhas">\n'
        f"{buttons}\n"
        '<a class="btn" href="https://www.youtube.com/user/thedevconf">Vídeos</a>\n'
        '<a class="btn" href="javascript:;">Menu</a> <a class="btn" href="#top">Topo</a>\n'
        "</section>",
    )


def _paragraphs(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n[ \t\r]*\n", text) if p.strip()] or [text]
    return "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in paragraph.splitlines()) + "</p>"
        for paragraph in paragraphs
    )


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="pt-br">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n"
        '<nav><a href="/">TDC</a></nav>\n'
        f"{body}\n<footer>The Developer's Conference</footer>\n</body>\n</html>\n"
    )


def write_pages(root: Path, pages: Mapping[str, str]) -> None:
    """Write ``{url path: html}`` under ``root`` the way ``SiteServer`` reads them."""
    for url_path, page in pages.items():
        file = root / (url_path.strip("/") + ".html")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(page, encoding="utf-8")


# --- Server -----------------------------------------------------------------


class SiteServer:
    """Serve a folder of pages on 127.0.0.1, on a free port, in a thread.

    ``/tdc/2018/saopaulo/trilhas`` is answered with
    ``root/tdc/2018/saopaulo/trilhas.html`` as ``text/html``; any other path
    gets a 404. Each path in ``fail_once_paths`` answers 500 to its first
    request and its page afterwards; each in ``failing_paths`` answers 500 to
    every request; each in ``hanging_paths`` never answers (the connection is
    held until the server stops; ``hung`` is set once one is asked for).
    ``requests`` counts requests per path.

    Use as a context manager::

        with SiteServer(FIXTURE_SITE) as site:
            run_crawl(site.base_url, ...)
    """

    def __init__(self, root: Path, fail_once_paths: Iterable[str] = (), failing_paths: Iterable[str] = (),
                 hanging_paths: Iterable[str] = ()):
        self.root = Path(root).resolve()
        self.requests: Counter[str] = Counter()
        self._fail_once_paths = set(fail_once_paths)
        self._failing_paths = set(failing_paths)
        self._hanging_paths = set(hanging_paths)
        self.hung = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        # Port 0: the OS picks a free port, so parallel runs do not collide.
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _SiteRequestHandler)
        self._httpd.daemon_threads = True
        self._httpd.site = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stopping.set()  # the hanging requests end: their connections close unanswered
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def respond(self, url_path: str) -> tuple[int, bytes] | None:
        """Status and body for a GET of ``url_path`` (None: no answer); counts the request."""
        with self._lock:
            self.requests[url_path] += 1
            if url_path in self._hanging_paths:
                self.hung.set()
                hang = True
            else:
                hang = False
            if url_path in self._fail_once_paths or url_path in self._failing_paths:
                self._fail_once_paths.discard(url_path)
                return 500, b"<html><body>Erro interno</body></html>"
        if hang:
            self._stopping.wait()
            return None
        file = (self.root / (unquote(url_path).strip("/") + ".html")).resolve()
        if url_path.endswith("/") or not file.is_relative_to(self.root) or not file.is_file():
            return 404, b"<html><body>Not found</body></html>"
        return 200, file.read_bytes()


class _SiteRequestHandler(BaseHTTPRequestHandler):
    # Keep-alive: the crawler reuses connections, as it would on the real site.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the second
    # waits for the client's delayed ACK (~40 ms a page on Linux).
    disable_nagle_algorithm = True

    def do_GET(self):
        answer = self.server.site.respond(urlsplit(self.path).path)
        if answer is None:
            self.close_connection = True
            return
        status, body = answer
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        """Silent: the requests are counted in ``SiteServer.requests``."""


# --- Crawl ------------------------------------------------------------------


@dataclass
class CrawlResult:
    """What ``scrapy crawl tdc`` produced: CSV header and rows, stats, log."""

    header: list[str]
    rows: list[dict[str, str]]
    stats: dict
    log: str
    seconds: float
    output: Path


def run_crawl(
    base_url: str,
    workdir: Path,
    spider_args: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> CrawlResult:
    """Run the real crawl, ``scrapy crawl tdc``, from the repository root.

    Writes ``talks.csv`` and ``crawl_stats.json`` (``CRAWL_STATS_FILE``) in
    ``workdir``; ``spider_args`` become ``-a name=value``. Raises
    AssertionError with the end of the log if the crawl fails.
    """
    output = Path(workdir) / "talks.csv"
    stats_file = Path(workdir) / "crawl_stats.json"
    command = [sys.executable, "-m", "scrapy", "crawl", "tdc", "-a", f"base_url={base_url}"]
    for name, value in (spider_args or {}).items():
        command += ["-a", f"{name}={value}"]
    command += ["-O", str(output), "-s", f"CRAWL_STATS_FILE={stats_file}"]
    for name, value in LOCAL_CRAWL_SETTINGS.items():
        command += ["-s", f"{name}={value}"]
    started = time.perf_counter()
    completed = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )
    seconds = time.perf_counter() - started
    log = completed.stdout + completed.stderr
    if completed.returncode != 0 or not output.exists() or not stats_file.exists():
        raise AssertionError(
            f"`{' '.join(command)}` failed (exit {completed.returncode}):\n{log[-4000:]}"
        )
    with output.open(encoding="utf-8", newline="") as csv_file:
        reader = csv.DictReader(csv_file)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    stats = json.loads(stats_file.read_text(encoding="utf-8"))
    return CrawlResult(header, rows, stats, log, seconds, output)
