"""Item pipelines: everything between "the spider found a talk" and "a CSV row".

Order (see ITEM_PIPELINES in settings.py):

1. ``CleanTalkTextPipeline``: HTML fragments to plain text, ``ano`` to int.
2. ``RequireDescriptionPipeline``: drops talks without a description.
3. ``ValidateTalkPipeline``: drops talks with an empty field.
4. ``DropDuplicateTalksPipeline``: drops a talk listed twice on one track page.

Every drop increments a ``tdc/...`` counter in the crawl stats, so the
counts appear in the stats dump and in the crawl report (extensions.py).
"""

import lxml.html
from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from text_similarity_model.contract import TALK_COLUMNS

#: Elements that separate words: their content is set apart by a space,
#: "paragraphs and <br> separated by a space". Everything else (strong, em,
#: a, span, code...) is inline, so "Py<strong>thon</strong>" stays "Python".
WORD_SEPARATING_TAGS = frozenset(
    {
        "br", "p", "div", "li", "ul", "ol", "dd", "dt", "blockquote", "pre",
        "table", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
        "section", "article", "header", "footer", "hr",
    }
)


def collapse_whitespace(text: str) -> str:
    """Return ``text`` with every whitespace run (newlines, tabs, non-breaking
    spaces included) turned into one space, and trimmed."""
    return " ".join(text.split())


def html_to_text(fragment: str) -> str:
    """Return the text of an HTML fragment, as the talks CSV wants it.

    Entities are decoded (by the HTML parser), word-separating elements
    (paragraphs, ``<br>``, ...) become spaces, inline elements vanish without
    a space, and whitespace is collapsed and trimmed. A fragment made of
    plain text and no markup comes back collapsed.
    """
    if not fragment.strip():
        return ""
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in WORD_SEPARATING_TAGS:
            element.text = " " + (element.text or "")
            element.tail = " " + (element.tail or "")
    return collapse_whitespace(root.text_content())


class _CountingPipeline:
    """Base for pipelines that drop items: they need the crawl's stats."""

    def __init__(self, stats):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def drop(self, counter: str, message: str, log_level: str) -> DropItem:
        """Count the drop under ``counter`` and return the DropItem to raise."""
        self.stats.inc_value(counter)
        return DropItem(message, log_level=log_level)


class CleanTalkTextPipeline:
    """Turn the spider's HTML fragments into plain text and ``ano`` into int.

    Fields the spider took from URLs (trilha, cidade, trilha_url) only get
    their whitespace trimmed; a description that is None stays None so the
    next pipeline can tell "no description block" from "empty block".
    """

    def process_item(self, item):
        talk = ItemAdapter(item)
        talk["title"] = html_to_text(talk["title"] or "")
        if talk["description"] is not None:
            talk["description"] = html_to_text(talk["description"])
        for field in ("trilha", "cidade", "trilha_url"):
            talk[field] = (talk[field] or "").strip()
        try:
            talk["ano"] = int(str(talk["ano"]).strip())
        except ValueError:
            # Validation reports it; keep the value so the message shows it.
            pass
        return item


class RequireDescriptionPipeline(_CountingPipeline):
    """Drop talks without a description: the model needs text to compare.

    A talk has no description when its schedule link points to no
    ``div.conteudo`` block (keynotes, panels) or the block holds no text.
    Counted as ``tdc/talks_without_description``, logged at INFO because the
    site has many such talks by design.
    """

    def process_item(self, item):
        talk = ItemAdapter(item)
        if not talk["description"]:
            raise self.drop(
                "tdc/talks_without_description",
                f"Talk without description: {talk['title']!r} on {talk['trilha_url']}",
                log_level="INFO",
            )
        return item


class ValidateTalkPipeline(_CountingPipeline):
    """Drop talks whose row would be incomplete: every column non-empty and
    ``ano`` an integer. Counted as ``tdc/invalid_talks`` and logged as a
    WARNING, since the contract says this should not happen."""

    def process_item(self, item):
        talk = ItemAdapter(item)
        empty = [column for column in TALK_COLUMNS if talk.get(column) in (None, "")]
        if empty:
            raise self.drop(
                "tdc/invalid_talks",
                f"Talk with empty {', '.join(empty)} on {talk.get('trilha_url')!r}: {dict(talk)!r}",
                log_level="WARNING",
            )
        if not isinstance(talk["ano"], int):
            raise self.drop(
                "tdc/invalid_talks",
                f"Talk with a non-integer ano {talk['ano']!r} on {talk['trilha_url']}",
                log_level="WARNING",
            )
        return item


class DropDuplicateTalksPipeline(_CountingPipeline):
    """Write a talk listed twice on one track page once.

    Two listings are the same talk when track page, title and description
    match. The same talk in another track or edition is another event and
    stays another row. Counted as ``tdc/duplicate_talks``.
    """

    def __init__(self, stats):
        super().__init__(stats)
        self.seen_talks: set[tuple[str, str, str]] = set()

    def process_item(self, item):
        talk = ItemAdapter(item)
        key = (talk["trilha_url"], talk["title"], talk["description"])
        if key in self.seen_talks:
            raise self.drop(
                "tdc/duplicate_talks",
                f"Talk listed twice: {talk['title']!r} on {talk['trilha_url']}",
                log_level="INFO",
            )
        self.seen_talks.add(key)
        return item
