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


#: What a suggested track can't tell (the ``tracks_note`` codes of answers, and
#: why a review's own tracks were not compared), as the page and the report say it.
TRACK_NOTES = {
    "no-tracks": "As palestras anteriores não têm trilha: não há trilha a sugerir.",
    "one-track": "As palestras anteriores têm uma trilha só: não há trilhas a distinguir.",
    "no-known-words": "Nenhuma palavra do texto aparece nas palestras anteriores: não há trilha a sugerir.",
    "single-talk": "A trilha mais provável tem uma palestra só nas edições anteriores: sugestão fraca.",
    "untrained": "O modelo foi treinado antes das sugestões de trilha: treine-o de novo para tê-las.",
    "pretalx-ids": "O pretalx deu as trilhas pelo número: salve as submissões com ?expand=track para compará-las.",
}


def percent(probability: float) -> str:
    """``0.41`` -> ``"41%"``; ``"<1%"`` and ``">99%"`` where rounding would say 0 or 100."""
    return "<1%" if probability < 0.005 else ">99%" if probability > 0.995 else f"{round(probability * 100)}%"
