"""``GET /``: the page where a person asks for related talks (in Portuguese).

The page is a form rendered here with the filter choices of the served
model's corpus; ``static/palestras.js`` calls ``POST /predict`` and
``GET /talks/<index>/related`` and draws the answers. Everything it uses is
served by this app, so it works offline.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from text_similarity_model.names import TRACK_NOTES, city_name, thousands, track_name

from .review import MAX_REVIEW_RESULTS, MAX_SUBMISSIONS
from .schemas import MAX_RESULTS, MAX_TEXT_LENGTH

blueprint = Blueprint("page", __name__)

# Only what the app serves, and no inline script or style: text from the
# corpus can never become code, even if a bug let it into the markup.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


blueprint.add_app_template_filter(thousands, "milhares")


@blueprint.get("/")
def index():
    model = current_app.extensions["palestras"].model_holder.model
    facets = model.facets()
    cities = [(slug, city_name(slug)) for slug in facets["cidade"]]
    tracks = sorted(((slug, track_name(slug)) for slug in facets["trilha"]), key=lambda pair: (pair[1], pair[0]))
    return render_template(
        "index.html",
        n_talks=thousands(len(model)),
        max_results=MAX_RESULTS,
        max_length=MAX_TEXT_LENGTH,
        years=facets["ano"],
        cities=cities,
        tracks=tracks,
        names={"cidade": dict(cities), "trilha": dict(tracks), "notas": TRACK_NOTES},
    )


@blueprint.get("/revisar")
def review():
    """Revisar submissões: a CSV of a call's submissions through ``POST /review``."""
    model = current_app.extensions["palestras"].model_holder.model
    facets = model.facets()
    return render_template(
        "review.html",
        n_talks=thousands(len(model)),
        max_results=MAX_REVIEW_RESULTS,
        max_submissions=MAX_SUBMISSIONS,
        log_days=_days(current_app.extensions["palestras"].request_log.retention_days),
        names={"cidade": {slug: city_name(slug) for slug in facets["cidade"]},
               "trilha": {slug: track_name(slug) for slug in facets["trilha"]}, "notas": TRACK_NOTES},
    )


def _days(days: float) -> str:
    """``REQUEST_LOG_DAYS`` as the page says it: "30", "1,5"; "" for 0 (rows kept for ever)."""
    return f"{days:g}".replace(".", ",") if days > 0 else ""


@blueprint.after_request
def _content_security_policy(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
