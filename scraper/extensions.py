"""Crawl report: the talk counts at the end of a crawl, in the log and a file.

Scrapy's own stats dump is long and only printed at LOG_LEVEL INFO. The
report logs one line with what a reader of ``data/talks.csv`` wants to know
(talks written, dropped without description, duplicates, invalid, pages not
found), and, when the ``CRAWL_STATS_FILE`` setting names a path, writes all
the crawl stats there as JSON so scripts and tests can read the counts
without parsing the log::

    scrapy crawl tdc -O data/talks.csv -s CRAWL_STATS_FILE=data/talks.stats.json
"""

import json
import logging
from pathlib import Path

from scrapy import signals

logger = logging.getLogger(__name__)

#: Counters of the report, in the order they are logged. The ``tdc/...``
#: counters are incremented by the spider's errback and the item pipelines.
REPORTED_COUNTERS = (
    ("talks written", "item_scraped_count"),
    ("dropped without description", "tdc/talks_without_description"),
    ("duplicates dropped", "tdc/duplicate_talks"),
    ("invalid dropped", "tdc/invalid_talks"),
    ("editions not found", "tdc/editions_not_found"),
    ("pages not found", "tdc/pages_not_found"),
    ("pages failed", "tdc/pages_failed"),
)


class CrawlReport:
    """Log the talk counts when the spider closes; write the stats file if asked."""

    def __init__(self, stats, stats_file: str | None):
        self.stats = stats
        self.stats_file = Path(stats_file) if stats_file else None

    @classmethod
    def from_crawler(cls, crawler):
        report = cls(crawler.stats, crawler.settings.get("CRAWL_STATS_FILE"))
        crawler.signals.connect(report.spider_closed, signal=signals.spider_closed)
        return report

    def counts(self) -> dict[str, int]:
        """The reported counters, 0 for those never incremented."""
        return {key: self.stats.get_value(key, 0) for _, key in REPORTED_COUNTERS}

    def spider_closed(self, spider, reason):
        counts = self.counts()
        logger.info(
            "Crawl report (%s): %s",
            reason,
            ", ".join(f"{label} {counts[key]}" for label, key in REPORTED_COUNTERS),
        )
        if self.stats_file is not None:
            # Written before Scrapy closes its stats: finish_time and
            # finish_reason are not there yet, so the reason is added here.
            stats = {**self.stats.get_stats(), **counts, "finish_reason": reason}
            self.stats_file.parent.mkdir(parents=True, exist_ok=True)
            self.stats_file.write_text(
                json.dumps(stats, indent=2, sort_keys=True, default=str), encoding="utf-8"
            )
