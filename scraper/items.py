"""The item the TDC spider yields: one talk as listed on one track page."""

from dataclasses import dataclass, fields


@dataclass
class TalkItem:
    """One talk of one track page, on its way to a CSV row.

    The spider fills ``title`` and ``description`` with the HTML fragments it
    found (the ``a.palestra`` link and the ``div.descricao`` block), markup and
    entities included; ``CleanTalkTextPipeline`` turns them into plain text.
    Keeping the spider to "find the fragment" and the pipeline to "make it
    text" means the text rules live in one place, tested on their own.

    ``description`` is None when the schedule lists the talk but the page has
    no ``div.conteudo`` block for it (keynotes, panels); such talks are dropped
    and counted by ``RequireDescriptionPipeline``.
    """

    title: str
    description: str | None
    trilha: str
    ano: int
    cidade: str
    trilha_url: str


#: Column order of the talks CSV, the order the training command and the
#: shared corpus (``../shared/data/tdc_talks_2016_2018.csv``) use.
TALK_COLUMNS = tuple(field.name for field in fields(TalkItem))
