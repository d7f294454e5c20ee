"""Scrapy settings of the TDC crawl: politeness, retries and output format.

Tuned for the real site; every value can be overridden on the command line
with ``-s NAME=VALUE``. Local crawls of a test site turn the delays off::

    scrapy crawl tdc -a base_url=http://127.0.0.1:8000 -O talks.csv \
        -s DOWNLOAD_DELAY=0 -s AUTOTHROTTLE_ENABLED=False

See https://docs.scrapy.org/en/latest/topics/settings.html
"""

from text_similarity_model.contract import TALK_COLUMNS

BOT_NAME = "scraper"

SPIDER_MODULES = ["scraper.spiders"]
NEWSPIDER_MODULE = "scraper.spiders"

# --- Politeness: a conference site, not ours, crawled once in a while.
# Say who we are, so the site's owners can tell this crawl apart.
USER_AGENT = (
    "palestras-scraper/1.0 (+related-talks search over past editions of "
    "The Developer's Conference; Scrapy)"
)
ROBOTSTXT_OBEY = True
# AutoThrottle adapts the delay to the site's latency, never below
# DOWNLOAD_DELAY, aiming at about one request in flight at a time.
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 2.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_DELAY = 1.0
# One site, so the global limit is the per-site one. (With Scrapy's default
# global limit of 16 above a per-site limit of 2, the crawl idled between
# bursts of requests, several times slower: benchmarks/README.md, "Crawl".)
# Raise both together, e.g. `-s CONCURRENT_REQUESTS=8
# -s CONCURRENT_REQUESTS_PER_DOMAIN=8`.
CONCURRENT_REQUESTS = 2
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_TIMEOUT = 30
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False

# --- Retries: the site sometimes answers a page with a 5xx once and serves it
# when asked again. 404 is not retried: a missing edition or a broken track
# link is logged, counted and skipped by the spider's errback.
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]

# --- Items: text cleaning, validation and de-duplication (pipelines.py).
ITEM_PIPELINES = {
    "scraper.pipelines.CleanTalkTextPipeline": 100,
    "scraper.pipelines.RequireDescriptionPipeline": 200,
    "scraper.pipelines.ValidateTalkPipeline": 300,
    "scraper.pipelines.DropDuplicateTalksPipeline": 400,
}

# --- Report: counts logged at the end; all stats written as JSON to
# CRAWL_STATS_FILE when it is set (extensions.py).
EXTENSIONS = {"scraper.extensions.CrawlReport": 500}
CRAWL_STATS_FILE = None

# --- Output: `-O data/talks.csv` picks the CSV exporter from the extension;
# the columns and their order are those the training command reads.
FEED_EXPORT_FIELDS = list(TALK_COLUMNS)
FEED_EXPORT_ENCODING = "utf-8"

LOG_LEVEL = "INFO"
