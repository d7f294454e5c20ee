"""Which tracks are one topic: the rule that groups the corpus' track slugs
and the tracks people type ("Python", "Segurança") into one key each.

The TDC site names a track differently from one edition to the next
(``trilha-dot-net``, ``trilha-dotnet``), splits it over days and rooms
(``trilha-testes-sabado``, ``trilha-devops-2``) and renames it
(``trilha-golang``, then ``trilha-go``). The track classifier learns, and
the review compares, these keys rather than the slugs:

1. case and accents don't matter, nor punctuation: ``"Segurança"`` and
   ``trilha-seguranca`` are one track, and so are ``dot-net`` and ``dotnet``
   (separators are dropped);
2. the corpus' ``trilha-`` prefix is dropped;
3. a last word naming a weekday (``-quarta``, ``-sabado``) is dropped: the
   same track on another day of the edition;
4. a last ``2`` (``-2``, ``negocios2``) is dropped: the same track's second
   room (only 2: ``html5`` or ``web3`` keep their digit);
5. then :data:`SYNONYMS`, a short explicit list of renamings found in the real
   corpus (2016-2018, 120 slugs, 76 keys after grouping).

A synonym joins two names only when no edition (year and city) of the real
corpus has both (``tests/test_tracks.py`` checks it): two tracks of one
edition are two topics the curators kept apart (``devops`` and
``devops-tools`` at Porto Alegre 2018, ``bigdata-e-nosql`` and ``nosql``),
so they stay apart here too.
"""

from __future__ import annotations

import re
import unicodedata

#: Last words that name a day of an edition.
WEEKDAYS = frozenset({"segunda", "terca", "quarta", "quinta", "sexta", "sabado", "domingo"})

#: Renamed tracks, key -> the key it joins: each pair one topic in editions
#: that never had both.
SYNONYMS = {
    "acessibilidadedigital": "acessibilidade",  # Porto Alegre 2017
    "androidekotlin": "android",  # Porto Alegre 2018
    "arduinomakerseimpressao3d": "arduinoemakers",  # São Paulo 2018
    "arquiteturacorporativa": "arquitetura",  # São Paulo's name for it
    "chatbotseinterfacesconversacionais": "chatbots",  # Porto Alegre 2017
    "delphi": "raddelphic",  # Porto Alegre 2018; "RAD Delphi C++" in São Paulo
    "extremeprogramming": "xp",
    "gameserealidadeaumentada": "games",  # Porto Alegre 2018
    "gestaodeprodutos": "gestaodeproduto",
    "golang": "go",
    "javaenterprise": "javaee",
    "management30egestaoagil": "management",
    "microservicos": "microservices",
    "modernweb": "web",  # São Paulo's name for it
    "webfrontend": "web",  # Porto Alegre 2018
    "phpessencial": "php",
    "segurancaecriptografia": "seguranca",
    "net": "dotnet",  # ".NET", as people write it
}

_WORDS = re.compile(r"[a-z0-9]+")
_ROOM = re.compile(r"(?<=[a-z])2$")


def track_key(track) -> str:
    """The key of the topic ``track`` (a slug or a name) belongs to, ``""``
    for no track: ``"Python"`` and ``"trilha-python"`` -> ``"python"``,
    ``"Segurança"`` and ``"trilha-seguranca-e-criptografia"`` ->
    ``"seguranca"``, ``"trilha-testes-sabado"`` -> ``"testes"``."""
    key = spelling_key(track)
    return SYNONYMS.get(key, key)


def without_day_or_room(slug: str) -> str:
    """``slug`` without the weekday or room the rules 3 and 4 drop, its
    spelling kept: ``"trilha-stadium-quarta"`` -> ``"trilha-stadium"``,
    ``"trilha-analise-de-negocios2"`` -> ``"trilha-analise-de-negocios"``."""
    head, _, last = slug.rpartition("-")
    if head and (last in WEEKDAYS or last == "2"):
        return head
    return _ROOM.sub("", slug)


def spelling_key(track) -> str:
    """``track``'s key by the rules 1 to 4 alone, before the :data:`SYNONYMS`."""
    if track is None:
        return ""
    folded = unicodedata.normalize("NFKD", str(track)).encode("ascii", "ignore").decode("ascii").lower()
    words = _WORDS.findall(folded)
    if len(words) > 1 and words[0] == "trilha":
        words = words[1:]
    if len(words) > 1 and words[-1] in WEEKDAYS:
        words = words[:-1]
    if len(words) > 1 and words[-1] == "2":
        words = words[:-1]
    return _ROOM.sub("", "".join(words))
