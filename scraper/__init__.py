"""Scrapy project that crawls The Developer's Conference site into the talks CSV.

`scrapy crawl tdc -O data/talks.csv` (run from the repository root) writes one
row per talk; see `scraper/spiders/tdc.py` for the crawl and
`../shared/tdc-site/README.md` for the markup contract it follows.
"""
