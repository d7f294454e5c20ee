"""The palestras HTTP API: ``create_app()`` builds the Flask app.

Configuration comes from the mapping passed in, then the environment
(``MODELS_DIR``, ``MODEL_PATH``, ``DATABASE_URL``: their defaults and meaning
in ``text_similarity_model/settings.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from text_similarity_model import settings
from text_similarity_model.store.versions import ModelStore

from . import errors, page
from .errors import JsonApi
from .metrics import Metrics
from .model_holder import ModelHolder
from .request_log import RequestLog
from .openapi import build_spec
from .resources import Facets, Health, MetricsText, OpenApi, Predict, RelatedTalks, Stats, Talk, ServedVersion
from .review import ReviewSubmissions

MAX_BODY_BYTES = 64 * 1024


@dataclass
class Services:
    """What the resources use, kept in ``app.extensions["palestras"]``."""

    model_holder: ModelHolder
    request_log: RequestLog
    openapi: dict
    metrics: Metrics


def create_app(config: dict | None = None) -> Flask:
    """Build the app; load the model (raising a ``PalestrasError`` naming the
    file and the fix if it can't be loaded)."""
    app = Flask(__name__, instance_path=str(settings.INSTANCE_DIR))
    app.config.update(
        MODEL_PATH=settings.MODEL_PATH.get() or None,
        MODELS_DIR=settings.MODELS_DIR.get(),
        DATABASE_URL=settings.DATABASE_URL.get(),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        ERROR_404_HELP=False,
    )
    app.config.update(config or {})

    model_holder = _model_holder(app.config)  # first: a bad model stops here, before anything else is made
    metrics = Metrics()
    services = app.extensions["palestras"] = Services(
        model_holder=model_holder,
        request_log=RequestLog(app.config["DATABASE_URL"], counters=metrics.request_log),
        openapi=build_spec(max_body_bytes=app.config["MAX_CONTENT_LENGTH"]),
        metrics=metrics,
    )
    metrics.instrument(app, services.model_holder)

    # The endpoint names are the metrics' endpoint labels.
    api = JsonApi(app, catch_all_404s=True)
    api.add_resource(Predict, "/predict", endpoint="predict")
    api.add_resource(Talk, "/talks/<int:index>", endpoint="talk")
    api.add_resource(RelatedTalks, "/talks/<int:index>/related", endpoint="related")
    api.add_resource(ReviewSubmissions, "/review", endpoint="review")
    api.add_resource(Facets, "/facets", endpoint="facets")
    api.add_resource(ServedVersion, "/version", endpoint="version")
    api.add_resource(Health, "/health", endpoint="health")
    api.add_resource(Stats, "/stats", endpoint="stats")
    api.add_resource(MetricsText, "/metrics", endpoint="metrics")
    api.add_resource(OpenApi, "/openapi.json", endpoint="openapi")
    app.register_blueprint(page.blueprint)  # GET /: the page for people
    errors.register(app)

    @app.after_request
    def _security_headers(response):
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return app


def _model_holder(config) -> ModelHolder:
    """A lone model file when ``MODEL_PATH`` names one, else the store's current version."""
    if config["MODEL_PATH"]:
        return ModelHolder(path=config["MODEL_PATH"])
    return ModelHolder(store=ModelStore(config["MODELS_DIR"]))
