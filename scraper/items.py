"""The item the TDC spider yields: one talk as listed on one track page."""

from dataclasses import make_dataclass

# The CSV's columns belong to the model that reads them: the item has one
# field per column, in the columns' order, so the CSV can't lose or gain one.
from text_similarity_model.contract import TALK_COLUMNS

TalkItem = make_dataclass("TalkItem", TALK_COLUMNS, namespace={"__module__": __name__})
TalkItem.__doc__ = """One talk of one track page, on its way to a CSV row: a field per
column of ``TALK_COLUMNS``, in that order.

The spider fills ``title`` and ``description`` with the HTML fragments it
found (the ``a.palestra`` link and the ``div.descricao`` block), markup and
entities included; ``CleanTalkTextPipeline`` turns them into plain text (and
``ano`` into an int). Keeping the spider to "find the fragment" and the
pipeline to "make it text" means the text rules live in one place, tested on
their own.

``description`` is None when the schedule lists the talk but the page has
no ``div.conteudo`` block for it (keynotes, panels); such talks are dropped
and counted by ``RequireDescriptionPipeline``.
"""

__all__ = ["TALK_COLUMNS", "TalkItem"]
