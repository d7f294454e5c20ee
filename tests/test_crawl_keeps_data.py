"""``make data`` (``python -m scraper.crawl``) never destroys the previous crawl.

Scrapy's ``-O`` truncates its output when a crawl starts; these tests run the
real command against real servers on 127.0.0.1 (or a host that can't be
resolved) over a previous ``talks.csv`` and check what a user would find.
"""

import json
import socket
import subprocess
import sys

import pytest

from text_similarity_model.settings import REPO_ROOT

from tests.support.servers import process_tree
from tests.support.tdc_site import FIXTURE_SITE, LOCAL_CRAWL_SETTINGS, SiteServer
from tests.support.waiting import wait_until

# Each test runs the crawl command in a subprocess.
pytestmark = pytest.mark.slow

PREVIOUS_CSV = "title,description,trilha,ano,cidade,trilha_url\nA,B,trilha-python,2017,saopaulo,http://x\n"


def safe_crawl_command(output, *arguments):
    command = [sys.executable, "-m", "scraper.crawl", str(output), *arguments]
    for name, value in LOCAL_CRAWL_SETTINGS.items():
        command += ["-s", f"{name}={value}"]
    return command


def run_safe_crawl(output, *arguments, timeout=120):
    return subprocess.run(safe_crawl_command(output, *arguments), cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def previous_crawl(tmp_path):
    output = tmp_path / "talks.csv"
    output.write_text(PREVIOUS_CSV, encoding="utf-8")
    return output


def leftovers(folder):
    return [path.name for path in folder.iterdir() if ".partial" in path.name]


def test_a_finished_crawl_replaces_the_previous_talks(previous_crawl):
    with SiteServer(FIXTURE_SITE) as site:
        completed = run_safe_crawl(previous_crawl, "-a", f"base_url={site.base_url}",
                                      "-a", "years=2018", "-a", "cities=saopaulo,portoalegre")
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = previous_crawl.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "title,description,trilha,ano,cidade,trilha_url"
    assert len(rows) == 1 + 13  # the fixture site's talks (test_scraper_crawl.EXPECTED_TALKS)
    stats = json.loads(previous_crawl.with_suffix(".stats.json").read_text(encoding="utf-8"))
    assert stats["csv_replaced"] is True
    assert stats["item_scraped_count"] == 13
    assert stats["outcome"] == f"wrote 13 talks to {previous_crawl}"
    assert f"crawl: wrote 13 talks to {previous_crawl}" in completed.stderr
    assert leftovers(previous_crawl.parent) == []


def test_a_crawl_that_finds_no_talk_keeps_the_previous_talks(previous_crawl, tmp_path):
    empty_site = tmp_path / "site"
    empty_site.mkdir()  # every edition answers 404: the site moved, or its markup changed
    with SiteServer(empty_site) as site:
        completed = run_safe_crawl(previous_crawl, "-a", f"base_url={site.base_url}", "-a", "years=2018")
    assert completed.returncode == 1
    assert previous_crawl.read_text(encoding="utf-8") == PREVIOUS_CSV
    stats = json.loads(previous_crawl.with_suffix(".stats.json").read_text(encoding="utf-8"))
    assert stats["csv_replaced"] is False
    assert stats["tdc/editions_not_found"] == 4
    assert stats["outcome"] == f"the crawl wrote no talks; kept the previous {previous_crawl}"
    assert stats["outcome"] in completed.stderr
    assert leftovers(previous_crawl.parent) == []


def test_a_host_that_does_not_resolve_fails_before_crawling_naming_it(previous_crawl):
    completed = run_safe_crawl(previous_crawl, "-a", "base_url=http://tdc.palestras.invalid")
    assert completed.returncode == 2
    message = completed.stderr.strip()
    assert len(message.splitlines()) == 1
    assert message.startswith("crawl: can't resolve tdc.palestras.invalid")
    assert "-a base_url=URL" in message
    # Refused before Scrapy started (alone, it retried every edition for minutes): no counts file.
    assert not previous_crawl.with_suffix(".stats.json").exists()
    assert previous_crawl.read_text(encoding="utf-8") == PREVIOUS_CSV
    assert leftovers(previous_crawl.parent) == []


def test_a_host_that_refuses_connections_fails_before_crawling_naming_it(previous_crawl):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    completed = run_safe_crawl(previous_crawl, "-a", f"base_url=http://127.0.0.1:{port}")
    assert completed.returncode == 2
    assert completed.stderr.strip().startswith(f"crawl: can't connect to 127.0.0.1:{port}")
    assert not previous_crawl.with_suffix(".stats.json").exists()  # refused before Scrapy started
    assert previous_crawl.read_text(encoding="utf-8") == PREVIOUS_CSV


HALF_WAY = "/tdc/2018/portoalegre/trilha-python"  # the second edition's track: saopaulo's talks come first


def test_a_site_that_fails_half_way_keeps_the_previous_talks(previous_crawl):
    with SiteServer(FIXTURE_SITE, failing_paths={HALF_WAY}) as site:
        completed = run_safe_crawl(previous_crawl, "-a", f"base_url={site.base_url}", "-a", "years=2018",
                                   "-a", "cities=saopaulo,portoalegre", "-s", "RETRY_TIMES=1")
    assert completed.returncode == 1, completed.stderr[-3000:]
    assert previous_crawl.read_text(encoding="utf-8") == PREVIOUS_CSV
    stats = json.loads(previous_crawl.with_suffix(".stats.json").read_text(encoding="utf-8"))
    assert stats["item_scraped_count"] > 0 and stats["tdc/pages_failed"] == 1  # a partial crawl...
    assert stats["csv_replaced"] is False  # ...replaces nothing
    assert stats["outcome"] == f"the crawl did not finish (1 page could not be fetched); kept the previous {previous_crawl}"
    assert leftovers(previous_crawl.parent) == []


def test_a_crawl_stopped_half_way_keeps_the_previous_talks(previous_crawl):
    """Scrapy stopped by SIGTERM (a process manager, a shutdown) while a page hangs: it ends
    "gracefully", with the talks it had, and says the crawl did not finish."""
    with SiteServer(FIXTURE_SITE, hanging_paths={HALF_WAY}) as site:
        crawl = subprocess.Popen(safe_crawl_command(previous_crawl, "-a", f"base_url={site.base_url}",
                                                    "-a", "years=2018", "-a", "cities=saopaulo,portoalegre"),
                                 cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: site.hung.is_set() and sum(site.requests.values()) >= 6, timeout=120)
            (scrapy,) = process_tree(crawl.pid)[1:]
            subprocess.run(["kill", "-TERM", str(scrapy)], check=True)
            _, stderr = crawl.communicate(timeout=120)
        finally:
            crawl.kill()
    assert crawl.returncode == 1, stderr[-3000:]
    assert previous_crawl.read_text(encoding="utf-8") == PREVIOUS_CSV
    stats = json.loads(previous_crawl.with_suffix(".stats.json").read_text(encoding="utf-8"))
    assert stats["item_scraped_count"] > 0 and stats["finish_reason"] == "shutdown"
    assert stats["outcome"] == f"the crawl did not finish (shutdown); kept the previous {previous_crawl}"
    assert leftovers(previous_crawl.parent) == []


def test_a_bad_base_url_is_refused_with_an_example(previous_crawl):
    completed = run_safe_crawl(previous_crawl, "-a", "base_url=www.example")
    assert completed.returncode == 2
    assert "is not an absolute http(s) URL" in completed.stderr
    assert previous_crawl.read_text(encoding="utf-8") == PREVIOUS_CSV
