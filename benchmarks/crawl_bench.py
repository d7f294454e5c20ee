"""Crawl benchmark: the real crawl over a local site built from the real corpus.

Builds, in a temporary folder, a TDC site following the markup contract from
``../shared/data/tdc_talks_2016_2018.csv`` (2,501 talks, 8 editions): each
track is split into pages of at most ``--talks-per-page`` talks (557 track
pages with the default 6), and every page also lists a keynote without
description and its first talk twice, as the real site does. It serves the
site on 127.0.0.1, runs ``scrapy crawl tdc`` with the default years and
cities (24 editions, 16 of them 404) and delays off, then checks that every
talk of the corpus comes back exactly (whitespace collapsed, as the contract
says) and that the dropped and duplicate counts match.

Usage, from the repository root::

    .venv/bin/python benchmarks/crawl_bench.py

Prints pages, talks, seconds and pages/s; exits 1 if a talk is missing or
altered, or if the whole crawl takes longer than ``--max-seconds`` (60).
The corpus is read where it is and never copied into the repository.
"""

import argparse
import csv
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from text_similarity_model.settings import REAL_CSV, REPO_ROOT

# The local site (pages, server, crawl runner) is the tests' one.
sys.path.insert(0, str(REPO_ROOT))

from tests.support.tdc_site import (  # noqa: E402
    PageTalk,
    SiteServer,
    render_edition_page,
    render_track_page,
    run_crawl,
    write_pages,
)

MIN_TRACK_PAGES = 400


def collapse(text: str) -> str:
    """The contract's whitespace rule, stated independently of the scraper."""
    return " ".join(text.split())


def build_site(corpus_rows: list[dict[str, str]], root: Path, talks_per_page: int):
    """Write the site under ``root``; return what its crawl must produce.

    Returns ``(track_paths, edition_paths, expected)`` where ``expected`` is a
    list of ``(title, description, trilha, ano, cidade, url path)`` rows.
    """
    talks_by_track = defaultdict(list)
    for row in corpus_rows:
        talks_by_track[(row["ano"], row["cidade"], row["trilha"])].append(row)

    pages, expected = {}, []
    tracks_by_edition = defaultdict(list)
    for (ano, cidade, trilha), talks in talks_by_track.items():
        for part, start in enumerate(range(0, len(talks), talks_per_page), start=1):
            slug = trilha if part == 1 else f"{trilha}-parte-{part}"
            path = f"/tdc/{ano}/{cidade}/{slug}"
            page_talks = talks[start : start + talks_per_page]
            schedule = [
                PageTalk(f"palestra-{i}", talk["title"], talk["description"])
                for i, talk in enumerate(page_talks)
            ]
            keynote = PageTalk("keynote", f"Keynote de abertura: {slug}")
            # The first talk listed twice, a keynote without description.
            pages[path] = render_track_page(slug, [*schedule, keynote, schedule[0]])
            tracks_by_edition[(ano, cidade)].append(path)
            expected += [
                (collapse(t["title"]), collapse(t["description"]), slug, ano, cidade, path)
                for t in page_talks
            ]
    edition_paths = []
    for (ano, cidade), track_paths in tracks_by_edition.items():
        path = f"/tdc/{ano}/{cidade}/trilhas"
        pages[path] = render_edition_page(f"TDC {ano} {cidade} - Trilhas", track_paths)
        edition_paths.append(path)
    write_pages(root, pages)
    track_paths = [path for paths in tracks_by_edition.values() for path in paths]
    return track_paths, edition_paths, expected


def compare(crawled: Counter, expected: Counter) -> list[str]:
    """Human-readable differences between two multisets of rows, at most 10."""
    problems = [f"missing: {row}" for row in (expected - crawled)]
    problems += [f"unexpected: {row}" for row in (crawled - expected)]
    return problems[:10]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REAL_CSV)
    parser.add_argument("--talks-per-page", type=int, default=6)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        parser.error(f"corpus {args.corpus} not found; give its path with --corpus")

    with args.corpus.open(encoding="utf-8", newline="") as corpus_file:
        corpus_rows = list(csv.DictReader(corpus_file))

    with tempfile.TemporaryDirectory(prefix="tdc_bench_") as tmp:
        site_root, crawl_dir = Path(tmp) / "site", Path(tmp) / "crawl"
        crawl_dir.mkdir()
        track_paths, edition_paths, expected = build_site(corpus_rows, site_root, args.talks_per_page)
        with SiteServer(site_root) as site:
            result = run_crawl(site.base_url, crawl_dir, timeout=10 * args.max_seconds)
            requests = sum(site.requests.values())
            pages_fetched = sum(
                count for path, count in site.requests.items() if path != "/robots.txt"
            )
            base_url = site.base_url

    crawled = Counter(
        (r["title"], r["description"], r["trilha"], r["ano"], r["cidade"], r["trilha_url"])
        for r in result.rows
    )
    wanted = Counter(
        (title, description, trilha, ano, cidade, base_url + path)
        for title, description, trilha, ano, cidade, path in expected
    )
    problems = compare(crawled, wanted)
    stats = result.stats
    counts_ok = (
        stats["tdc/talks_without_description"] == len(track_paths)
        and stats["tdc/duplicate_talks"] == len(track_paths)
        and stats["tdc/editions_not_found"] == 24 - len(edition_paths)
        and stats["tdc/pages_not_found"] == 0
        and stats["tdc/pages_failed"] == 0
    )
    fast_enough = result.seconds <= args.max_seconds
    pages_per_second = pages_fetched / result.seconds

    print(f"Crawl benchmark over a local site built from {args.corpus.name}")
    print(f"  site:      {len(edition_paths)} editions, {len(track_paths)} track pages "
          f"(at most {args.talks_per_page} talks each), {len(corpus_rows)} talks")
    print(f"  pages:     {pages_fetched} fetched ({len(track_paths)} tracks, {len(edition_paths)} "
          f"editions, {stats['tdc/editions_not_found']} editions 404), {requests} HTTP requests")
    print(f"  talks:     {len(result.rows)} written, "
          f"{stats['tdc/talks_without_description']} without description dropped, "
          f"{stats['tdc/duplicate_talks']} duplicates dropped")
    print(f"  time:      {result.seconds:.1f} s whole crawl (process start to exit), "
          f"{stats.get('elapsed_time_seconds', float('nan')):.1f} s Scrapy engine")
    print(f"  speed:     {pages_per_second:.0f} pages/s")
    print(f"  exact:     {'OK, every talk came back exactly' if not problems else 'FAILED'}")
    for problem in problems:
        print(f"    {problem}")
    print(f"  counts:    {'OK' if counts_ok else 'FAILED'}")
    print(f"  target:    whole crawl <= {args.max_seconds:.0f} s: {'OK' if fast_enough else 'FAILED'}")
    if len(track_paths) < MIN_TRACK_PAGES:
        print(f"  warning:   fewer than {MIN_TRACK_PAGES} track pages; lower --talks-per-page")
    return 0 if not problems and counts_ok and fast_enough else 1


if __name__ == "__main__":
    sys.exit(main())
