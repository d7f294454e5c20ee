"""The API's resources: /predict, /talks/<index>[/related], /facets, /version, /health, /stats, /metrics."""

from __future__ import annotations

import time

from flask import request
from flask_restful import Resource

from text_similarity_model.steps.ranking import ranking_backend

from .errors import ApiError
from .requests import fields_of, filters_of, request_fields, services, validated
from .schemas import PredictRequestSchema, RelatedQuerySchema

_predict_request = PredictRequestSchema()
_related_query = RelatedQuerySchema()


class Predict(Resource):
    def post(self):
        """The talks most related to a title and description."""
        query = validated(_predict_request, request_fields())
        model = services().model_holder.model
        started = time.perf_counter()
        answer = model.predict(query, query["n_results"], filters_of(query))
        seconds = time.perf_counter() - started
        services().metrics.observe_prediction("predict", seconds)
        services().request_log.record(
            "predict", query["title"], query["description"], query["n_results"], answer["version"],
            seconds * 1000, [p["index"] for p in answer["predictions"]],
        )
        return answer


def _talk_index(model, index: int) -> int:
    if index >= len(model):
        raise ApiError(404, f"no talk {index}: the corpus has talks 0 to {len(model) - 1}")
    return index


class Talk(Resource):
    def get(self, index: int):
        """A talk of the model's corpus."""
        model = services().model_holder.model
        return model.talk(_talk_index(model, index))


class RelatedTalks(Resource):
    def get(self, index: int):
        """The talks most related to a talk of the corpus, itself excluded."""
        query = validated(_related_query, fields_of(request.args))
        model = services().model_holder.model
        _talk_index(model, index)
        started = time.perf_counter()
        answer = model.related(index, query["n_results"], filters_of(query))
        seconds = time.perf_counter() - started
        services().metrics.observe_prediction("related", seconds)
        talk = model.talk(index)
        services().request_log.record(
            "related", talk["title"], talk["description"], query["n_results"], answer["version"],
            seconds * 1000, [p["index"] for p in answer["predictions"]], talk_index=index,
        )
        return answer


class Facets(Resource):
    def get(self):
        """The values each filter (``FILTER_COLUMNS``) can take: those of the model's corpus."""
        return services().model_holder.model.facets()


class ServedVersion(Resource):
    def get(self):
        """Which model answers, with its artifact's metadata and, from the model
        store, its evaluation figures, the version it replaced and whether it was forced."""
        holder = services().model_holder
        return {"model_version": holder.model.version, **holder.model.metadata, **holder.lineage}


class Health(Resource):
    def get(self):
        """200 once the model is loaded (the app doesn't start without one)."""
        model = services().model_holder.model
        return {
            "status": "ok",
            "model_version": model.version,
            "request_log": "ok" if services().request_log.healthy else "failing (answers go on)",
            "ranking": ranking_backend(),
        }


class OpenApi(Resource):
    def get(self):
        """The OpenAPI 3 document of this API."""
        return services().openapi


class Stats(Resource):
    def get(self):
        """Request counts and latency percentiles from the request log's
        database; its counters from the metrics (the same numbers as /metrics)."""
        return services().request_log.stats()


class MetricsText(Resource):
    def get(self):
        """The whole service's metrics (every worker's), for Prometheus to scrape."""
        metrics = services().metrics
        metrics.follow_model(services().model_holder.model)  # this worker's version, even on its first request
        return metrics.exposition()
