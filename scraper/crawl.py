"""``python -m scraper.crawl OUTPUT [scrapy crawl arguments]``: a crawl that never destroys data.

``scrapy crawl tdc -O data/talks.csv`` truncates ``data/talks.csv`` when the
crawl *starts*: a crawl that then fails (no network, the site changed its
markup) leaves an empty file where the previous talks were. This command:

1. checks first that the site's host resolves and accepts a connection, and
   fails within seconds, with one line naming the host and the fix, when it
   doesn't (Scrapy would retry every edition's page for minutes);
2. runs the real ``scrapy crawl tdc`` into a new file beside ``OUTPUT``;
3. replaces ``OUTPUT`` with it (atomically, after an fsync) only when the
   crawl finished, every page it needed was fetched (a 404 is the site's
   broken link, counted apart) and it wrote talks; otherwise the previous
   ``OUTPUT`` stays as it was and the exit status is non-zero.

The counts file (``OUTPUT`` with ``.stats.json``, or ``--stats PATH``) gets
the crawl's stats plus ``outcome`` and ``csv_replaced``: it says what
happened, also when the previous data was kept. Every other argument goes to
``scrapy crawl tdc`` unchanged (``-a base_url=...``, ``-a years=2018``,
``-s NAME=VALUE``)::

    python -m scraper.crawl data/talks.csv -a years=2018 -a cities=saopaulo
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from scraper.spiders.tdc import DEFAULT_BASE_URL, parse_base_url
from text_similarity_model.files import replace_atomically, write_json_atomically

#: Seconds to wait for the site to accept a TCP connection before giving up.
CONNECT_TIMEOUT = 5.0

#: Exit status when the previous data was kept (the crawl failed or found nothing).
KEPT_PREVIOUS = 1
#: Exit status for arguments or a site that can't be used at all.
UNUSABLE = 2


class SiteUnreachable(Exception):
    """The site's host can't be resolved or doesn't accept connections."""


def main(argv: list[str] | None = None) -> int:
    options, scrapy_args = _parse_arguments(argv)
    output = Path(options.output)
    stats_path = Path(options.stats) if options.stats else output.with_suffix(".stats.json")
    try:
        base_url = parse_base_url(_spider_argument(scrapy_args, "base_url") or DEFAULT_BASE_URL)
        check_reachable(base_url)
    except (ValueError, SiteUnreachable) as error:
        print(f"crawl: {error}", file=sys.stderr)
        return UNUSABLE
    if not output.parent.is_dir():
        print(f"crawl: {output.parent} is not a folder; create it or choose another OUTPUT", file=sys.stderr)
        return UNUSABLE

    candidate = _sibling_temporary(output, ".csv")
    candidate_stats = _sibling_temporary(stats_path, ".json")
    try:
        command = [sys.executable, "-m", "scrapy", "crawl", "tdc", "-O", str(candidate.resolve()),
                   "-s", f"CRAWL_STATS_FILE={candidate_stats.resolve()}", *scrapy_args]
        # The project named by its settings module, not by a scrapy.cfg in the working folder.
        environment = {**os.environ, "SCRAPY_SETTINGS_MODULE": "scraper.settings"}
        returncode = subprocess.run(command, env=environment).returncode
        stats = _read_stats(candidate_stats)
        talks = int(stats.get("item_scraped_count", 0))
        # Pages that failed after their retries (5xx, dropped connections, timeouts) leave a partial
        # crawl: it must not replace a complete one. (404s are the site's broken links: counted apart.)
        failed_pages = int(stats.get("tdc/pages_failed", 0))
        finished = returncode == 0 and stats.get("finish_reason") == "finished" and not failed_pages
        replace = finished and talks > 0 and candidate.is_file()
        if replace:
            replace_atomically(candidate, output)
            outcome = f"wrote {talks} talks to {output}"
        elif not finished:
            reason = stats.get("finish_reason") or f"scrapy exited with status {returncode}"
            if reason == "finished":
                reason = f"{failed_pages} page{'s' if failed_pages > 1 else ''} could not be fetched"
            outcome = f"the crawl did not finish ({reason}); kept the previous {output}"
        else:
            outcome = f"the crawl wrote no talks; kept the previous {output}"
        write_json_atomically(stats_path, {**stats, "outcome": outcome, "csv_replaced": replace})
    finally:
        candidate.unlink(missing_ok=True)
        candidate_stats.unlink(missing_ok=True)
    print(f"crawl: {outcome} (counts in {stats_path})", file=sys.stderr)
    return 0 if replace else KEPT_PREVIOUS


def check_reachable(base_url: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise :class:`SiteUnreachable` unless ``base_url``'s host resolves and
    accepts a TCP connection within ``timeout`` seconds."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    fix = ("check the network, or crawl another copy of the site with "
           "-a base_url=URL (make data CRAWL_ARGS=\"-a base_url=URL\")")
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise SiteUnreachable(f"can't resolve {host} ({error.strerror}): {fix}") from error
    try:
        socket.create_connection(addresses[0][4][:2], timeout=timeout).close()
    except OSError as error:
        reason = "timed out" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise SiteUnreachable(f"can't connect to {host}:{port} ({reason}): {fix}") from error


def _parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="python -m scraper.crawl",
        description="Crawl the TDC site into OUTPUT, replacing it only when the crawl "
                    "finished and wrote talks. Other arguments go to `scrapy crawl tdc`.",
    )
    parser.add_argument("output", help="the talks CSV to write, e.g. data/talks.csv")
    parser.add_argument("--stats", help="the counts file (default: OUTPUT with .stats.json)")
    return parser.parse_known_args(argv)


def _spider_argument(scrapy_args: list[str], name: str) -> str | None:
    """The value of ``-a name=value`` (or ``-aname=value``) in ``scrapy_args``; the last wins."""
    value = None
    for position, argument in enumerate(scrapy_args):
        if argument == "-a" and position + 1 < len(scrapy_args):
            argument = scrapy_args[position + 1]
        elif argument.startswith("-a"):
            argument = argument[2:]
        else:
            continue
        key, _, found = argument.partition("=")
        if key == name:
            value = found
    return value


def _sibling_temporary(path: Path, suffix: str) -> Path:
    """A new empty file's path in ``path``'s folder, so the final rename stays on one file system."""
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{suffix}", dir=path.parent)
    os.close(descriptor)
    os.chmod(name, 0o644)  # mkstemp's 0600 would follow the data into its final name
    return Path(name)


def _read_stats(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # Scrapy stopped before its report was written
        return {}


if __name__ == "__main__":
    sys.exit(main())
