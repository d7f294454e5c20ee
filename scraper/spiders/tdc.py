"""The TDC spider: crawls editions of The Developer's Conference for talks.

It follows the markup contract in ``../shared/tdc-site/README.md``: start at
each edition's track list (``{base}/tdc/{ano}/{cidade}/trilhas``), follow every
link that stays inside that edition once, and on every page with a schedule
(``table.grade``) yield one item per talk listed. The spider only parses and
follows links; text cleaning, validation and de-duplication are the item
pipelines' job (pipelines.py), output and politeness are settings.py's.

Usage, from the repository root::

    scrapy crawl tdc -O data/talks.csv
    scrapy crawl tdc -a years=2018,2019 -a cities=saopaulo -O talks.csv
    scrapy crawl tdc -a base_url=http://127.0.0.1:8000 -O talks.csv \
        -s DOWNLOAD_DELAY=0 -s AUTOTHROTTLE_ENABLED=False
"""

import re
from dataclasses import dataclass
from urllib.parse import urldefrag, urlsplit

import scrapy
from scrapy.linkextractors import LinkExtractor
from scrapy.spidermiddlewares.httperror import HttpError

from scraper.items import TalkItem

DEFAULT_BASE_URL = "http://www.thedevelopersconference.com.br"
DEFAULT_YEARS = tuple(range(2014, 2020))
DEFAULT_CITIES = ("saopaulo", "florianopolis", "portoalegre", "belohorizonte")

CITY_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Edition:
    """One edition of the conference: a year in a city, under a base URL."""

    base_url: str
    ano: int
    cidade: str

    @property
    def path_prefix(self) -> str:
        """Path every page of the edition starts with, e.g. ``/tdc/2018/saopaulo/``."""
        base_path = urlsplit(self.base_url).path.rstrip("/")
        return f"{base_path}/tdc/{self.ano}/{self.cidade}/"

    @property
    def trilhas_url(self) -> str:
        """The edition's list of tracks, where its crawl starts."""
        return f"{self.base_url}/tdc/{self.ano}/{self.cidade}/trilhas"

    def link_pattern(self, host: str) -> str:
        """Regex matching absolute URLs of the edition's pages on ``host``.

        The host is the one the pages were served from, not necessarily the
        base URL's, so a site that redirects (http to https, another host
        name) is still crawled; the scheme is left free for the same reason.
        """
        return rf"^https?://{re.escape(host)}{re.escape(self.path_prefix)}"


def parse_years(years: str | None) -> tuple[int, ...]:
    """``"2018,2019"`` to ``(2018, 2019)``; None gives the default 2014–2019."""
    if years is None:
        return DEFAULT_YEARS
    parsed = []
    for year in _split_list(years):
        if not re.fullmatch(r"\d{4}", year):
            raise ValueError(
                f"-a years={years!r}: {year!r} is not a four-digit year; "
                "give years separated by commas, e.g. -a years=2018,2019"
            )
        parsed.append(int(year))
    if not parsed:
        raise ValueError("-a years= is empty; give years separated by commas, e.g. -a years=2018,2019")
    return tuple(parsed)


def parse_cities(cities: str | None) -> tuple[str, ...]:
    """``"saopaulo,portoalegre"`` to a tuple of city slugs; None gives the four defaults."""
    if cities is None:
        return DEFAULT_CITIES
    parsed = tuple(_split_list(cities))
    invalid = [city for city in parsed if not CITY_SLUG.match(city)]
    if invalid or not parsed:
        raise ValueError(
            f"-a cities={cities!r}: give city slugs as they appear in the site's URLs "
            "(lowercase, no accents), separated by commas, e.g. -a cities=saopaulo,portoalegre"
        )
    return parsed


def parse_base_url(base_url: str) -> str:
    """Check the base URL is an absolute http(s) URL and drop its trailing slash."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"-a base_url={base_url!r} is not an absolute http(s) URL; "
            f"e.g. -a base_url={DEFAULT_BASE_URL}"
        )
    return base_url.rstrip("/")


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class TdcSpider(scrapy.Spider):
    """Crawl TDC editions and yield one TalkItem per talk listed on a track page.

    Arguments (``-a name=value``):

    - ``base_url``: the site, default the real one (``DEFAULT_BASE_URL``).
    - ``years``: comma-separated years, default 2014 to 2019.
    - ``cities``: comma-separated city slugs, default the four of the contract.

    Pages that answer 404 (editions that never happened, broken track links)
    are logged, counted in the stats and skipped.
    """

    name = "tdc"

    def __init__(self, base_url=DEFAULT_BASE_URL, years=None, cities=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.base_url = parse_base_url(base_url)
        self.years = parse_years(years)
        self.cities = parse_cities(cities)

    def editions(self) -> list[Edition]:
        """Every year × city edition asked for, most existing only in some years."""
        return [Edition(self.base_url, ano, cidade) for ano in self.years for cidade in self.cities]

    async def start(self):
        """One request per edition's track list; the rest is found by following links."""
        for edition in self.editions():
            yield self.page_request(edition.trilhas_url, edition)

    def page_request(self, url: str, edition: Edition) -> scrapy.Request:
        """Request one page of ``edition``, parsed by ``parse_page``."""
        return scrapy.Request(
            url,
            callback=self.parse_page,
            errback=self.skip_unavailable_page,
            cb_kwargs={"edition": edition},
        )

    def parse_page(self, response, edition: Edition):
        """Any page of an edition: its talks, if it has a schedule, and its links."""
        yield from self.parse_talks(response, edition)
        for url in self.links_inside_edition(response, edition):
            # The dupefilter drops pages already requested: each page once.
            yield self.page_request(url, edition)

    def parse_talks(self, response, edition: Edition):
        """One TalkItem per ``a.palestra`` of the page's schedule tables.

        The title is paired with its description through the link's
        ``href="#ID"`` and the block ``div.conteudo#ID``, never by position,
        so a talk without a block gets None instead of its neighbour's text.
        Pages without ``table.grade`` (registration, home) yield nothing.
        """
        descriptions = {
            block.attrib["id"]: block.css("div.descricao").get()
            for block in response.css("div.conteudo[id]")
        }
        trilha = urlsplit(response.url).path.rstrip("/").rsplit("/", 1)[-1]
        for talk_link in response.css("table.grade a.palestra"):
            talk_id = talk_link.attrib.get("href", "").partition("#")[2]
            yield TalkItem(
                title=talk_link.get(),
                description=descriptions.get(talk_id),
                trilha=trilha,
                ano=edition.ano,
                cidade=edition.cidade,
                trilha_url=response.url,
            )

    def links_inside_edition(self, response, edition: Edition) -> list[str]:
        """URLs of the other pages of ``edition`` that the page links to.

        ``javascript:;`` links, external sites, other editions and files
        (images, PDFs) are left out. Fragments are cut, so ``#top`` and
        ``#palestra-…`` (the page itself) are left out too, and a link to
        ``trilha-python#palestra-1`` requests the track page once, under the
        URL its talks' ``trilha_url`` will show.
        """
        host = urlsplit(response.url).netloc
        extractor = LinkExtractor(allow=edition.link_pattern(host))
        page_url = urldefrag(response.url).url
        urls = dict.fromkeys(urldefrag(link.url).url for link in extractor.extract_links(response))
        return [url for url in urls if url != page_url]

    def skip_unavailable_page(self, failure):
        """Log and count a page that could not be fetched, and go on.

        A 404 edition is expected (most year × city pairs never happened):
        INFO. A 404 inside an existing edition is a broken link: WARNING,
        with the page that linked to it. Anything else (5xx after retries,
        timeouts) is a WARNING too; none of them stop the crawl.
        """
        request = failure.request
        edition = request.cb_kwargs["edition"]
        stats = self.crawler.stats
        if failure.check(HttpError) and failure.value.response.status == 404:
            if request.url == edition.trilhas_url:
                stats.inc_value("tdc/editions_not_found")
                self.logger.info(
                    "Edition %s %s not found (404 at %s), skipped",
                    edition.ano, edition.cidade, request.url,
                )
            else:
                stats.inc_value("tdc/pages_not_found")
                referer = request.headers.get("Referer", b"").decode("latin-1") or "?"
                self.logger.warning(
                    "Broken link in edition %s %s: %s answered 404 (linked from %s), skipped",
                    edition.ano, edition.cidade, request.url, referer,
                )
            return
        stats.inc_value("tdc/pages_failed")
        self.logger.warning("Could not fetch %s, skipped: %s", request.url, failure.getErrorMessage())
