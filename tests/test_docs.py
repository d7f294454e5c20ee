"""Every relative link of the README and of docs/ leads somewhere.

A link (markdown link or image) to a file of the checkout must name a file
that exists, and its ``#anchor``, if any, a heading of that file, slugged as
GitHub does. Links to the web are left alone. Links into the shared data beside
the checkout (``../shared``, e.g. the judged set's JUDGED.md) are checked where
that folder is, and must be where the real corpus is required (CI).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The shared data beside the checkout (text_similarity_model.settings.REAL_CSV's folder's parent).
SHARED = ROOT.parent / "shared"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCED_BLOCK = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(path: Path) -> str:
    """The file's markdown without code blocks, where `#` and `[x](y)` are not markdown."""
    return FENCED_BLOCK.sub("", path.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """GitHub's anchor: lowercase, punctuation but '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(heading) for heading in HEADING.findall(prose(path))}


def relative_links(path: Path) -> list[str]:
    targets = LINK.findall(INLINE_CODE.sub("``", prose(path)))
    return [target for target in targets if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(document):
    broken = []
    for target in relative_links(document):
        file_part, _, anchor = target.partition("#")
        linked = (document.parent / file_part).resolve() if file_part else document
        if not linked.exists():
            if (linked.is_relative_to(SHARED) and not SHARED.exists()
                    and os.environ.get("PALESTRAS_REQUIRE_REAL_CORPUS") != "1"):
                continue  # no shared data on this machine (a fresh clone elsewhere): checked where it is
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, f"{document.relative_to(ROOT)}: broken links: {broken}"

