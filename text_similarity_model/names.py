"""What people read, in Portuguese, for the corpus' slugs (the TDC site's)
and for numbers: the page and the review's report show "São Paulo", not
``saopaulo``, and "2.501"."""

from __future__ import annotations

CITY_NAMES = {
    "belohorizonte": "Belo Horizonte",
    "brasilia": "Brasília",
    "curitiba": "Curitiba",
    "florianopolis": "Florianópolis",
    "fortaleza": "Fortaleza",
    "goiania": "Goiânia",
    "portoalegre": "Porto Alegre",
    "recife": "Recife",
    "riodejaneiro": "Rio de Janeiro",
    "salvador": "Salvador",
    "saopaulo": "São Paulo",
}


def city_name(slug: str) -> str:
    """``"saopaulo"`` -> ``"São Paulo"``; an unknown slug is shown as it is."""
    return CITY_NAMES.get(slug, slug)


def track_name(slug: str) -> str:
    """``"trilha-machine-learning"`` -> ``"Machine learning"``."""
    return slug.removeprefix("trilha-").replace("-", " ").strip().capitalize() or slug


def thousands(number: int) -> str:
    """``2501`` -> ``"2.501"``, as written in Portuguese."""
    return f"{number:,}".replace(",", ".")
