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


#: Words of the corpus' track slugs as they are written: the slugs lose accents and capitals.
TRACK_WORDS = {
    "ageis": "ágeis", "agil": "ágil", "analise": "análise", "codigo": "código", "computacao": "computação",
    "dinamicas": "dinâmicas", "facilitacoes": "facilitações", "gestao": "gestão", "impressao": "impressão",
    "impressao3d": "impressão 3D", "inovacao": "inovação", "inteligencia": "inteligência", "ios": "iOS",
    "microservicos": "microsserviços", "negocios": "negócios", "php": "PHP", "programacao": "programação",
    "sabado": "sábado", "seguranca": "segurança", "terca": "terça", "transformacao": "transformação", "ux": "UX", "xp": "XP",
}


def track_name(slug: str) -> str:
    """``"trilha-machine-learning"`` -> ``"Machine learning"``,
    ``"trilha-seguranca"`` -> ``"Segurança"``."""
    words = [TRACK_WORDS.get(word, word) for word in slug.removeprefix("trilha-").split("-") if word]
    if not words:
        return slug
    first = words[0]
    words[0] = first if first != first.lower() else first[:1].upper() + first[1:]  # iOS, UX stay
    return " ".join(words)


def thousands(number: int) -> str:
    """``2501`` -> ``"2.501"``, as written in Portuguese."""
    return f"{number:,}".replace(",", ".")
