"""``make update`` as a user runs it: a real crawl of a local TDC site, training,
the checks, promotion, and a real gunicorn that follows, or doesn't.

The second crawl is of a "broken" copy of the site: one edition's track page
changed its markup, so none of its talks parse (what a site redesign does).
The crawl itself finishes with the other editions' talks; the update must be
refused on the missing edition, naming the check, and the service must keep
answering with the version it had.
"""

import os
import shutil
import subprocess

import pytest
import requests

from text_similarity_model.settings import REPO_ROOT
from text_similarity_model.store import ModelStore

from tests.support.servers import running_gunicorn
from tests.support.tdc_site import FIXTURE_SITE, LOCAL_CRAWL_SETTINGS, SiteServer

# `make update` (a crawl and a training in subprocesses) twice, and a gunicorn that follows.
pytestmark = [pytest.mark.gunicorn, pytest.mark.slow]


def make_update(site_url, workdir):
    crawl_args = [f"-a base_url={site_url}", "-a years=2018", "-a cities=saopaulo,portoalegre"]
    crawl_args += [f"-s {name}={value}" for name, value in LOCAL_CRAWL_SETTINGS.items()]
    variables = {"CRAWL_OUTPUT": workdir / "talks.csv", "MODELS_DIR": workdir / "models",
                 "PIDFILE": workdir / "gunicorn.pid", "CRAWL_ARGS": " ".join(crawl_args),
                 # The fixture site lists one talk three times on purpose (a contract case): 2 of its
                 # 13 rows are exact duplicates, over the default 5% that flags a broken crawl.
                 "UPDATE_ARGS": "--max-duplicate-share 0.2"}
    return subprocess.run(["make", "--no-print-directory", "update", *(f"{k}={v}" for k, v in variables.items())],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")})


def test_make_update_promotes_a_good_crawl_and_refuses_a_broken_one(tmp_path):
    site_folder = tmp_path / "site"
    shutil.copytree(FIXTURE_SITE, site_folder)
    with SiteServer(site_folder) as site:
        first = make_update(site.base_url, tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        assert first.stdout.strip().splitlines()[-1].endswith("(first version of the store)")
        store = ModelStore(tmp_path / "models")
        served = store.current().name
        # 13 rows, 11 talks: the one listed three times is kept where the crawl met it first,
        # which depends on the order pages arrive in.
        editions = store.current().report["editions"]
        assert set(editions) == {"2018 portoalegre", "2018 saopaulo"} and sum(editions.values()) == 11

        with running_gunicorn(None, tmp_path, extra_env={"MODEL_PATH": "", "MODELS_DIR": str(store.folder)}) as server:
            # The redesign: Porto Alegre's schedule no longer marks its talks as a.palestra.
            page = site_folder / "tdc" / "2018" / "portoalegre" / "trilha-python.html"
            page.write_text(page.read_text(encoding="utf-8").replace('class="palestra"', 'class="talk"'),
                            encoding="utf-8")
            second = make_update(site.base_url, tmp_path)
            assert second.returncode != 0
            lines = second.stdout.strip().splitlines()
            assert f"editions: 1 of 2 missing: 2018 portoalegre (current {served})" in lines
            # (On 9 talks the figures drop too: P@5 and MRR are refused beside the editions.)
            assert lines[-1].startswith("refused: editions") and f"; current stays {served};" in lines[-1]
            assert store.current().name == served
            answer = requests.post(server.url + "/predict", json={"title": "Python", "description": "tipagem"},
                                   timeout=10).json()
            assert answer["version"] == served
            assert requests.get(server.url + "/facets", timeout=10).json()["cidade"] == ["portoalegre", "saopaulo"]
