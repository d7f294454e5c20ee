"""The API's resources: /predict, /talks/<index>[/related], /facets, /version, /health, /stats, /metrics."""

from __future__ import annotations

import json
import time

from flask import current_app, request
from flask_restful import Resource
from marshmallow import ValidationError

from text_similarity_model.model import FILTER_COLUMNS
from text_similarity_model.ranking import ranking_backend

from .errors import ApiError
from .schemas import PredictRequestSchema, RelatedQuerySchema, error_message

_predict_request = PredictRequestSchema()
_related_query = RelatedQuerySchema()

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def services():
    return current_app.extensions["palestras"]


def request_fields() -> dict:
    """The request's fields, from a JSON object or a form body."""
    mimetype = request.mimetype
    if mimetype == "application/json" or mimetype.endswith("+json"):
        body = request.get_data(cache=True)  # raises 413 past the limit
        try:
            data = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(400, "body is not UTF-8 text; send the JSON encoded as UTF-8")
        except ValueError as error:
            raise ApiError(400, f"body is not valid JSON ({error})")
        if not isinstance(data, dict):
            raise ApiError(400, 'body must be a JSON object, e.g. {"title": "...", "description": "..."}')
        return data
    if mimetype in FORM_TYPES:
        return fields_of(request.form)
    raise ApiError(
        415,
        "send the fields as JSON (Content-Type: application/json) "
        "or as a form (application/x-www-form-urlencoded)",
    )


def fields_of(multidict) -> dict:
    """A form's or query string's fields: a repeated one (``ano=2017&ano=2018``) as a list."""
    return {key: values[0] if len(values) == 1 else values for key, values in multidict.lists()}


def filters_of(query: dict) -> dict:
    """The filters a validated request asked for, as ``Model.predict`` takes them."""
    return {column: query[column] for column in FILTER_COLUMNS if query.get(column)}


def validated(schema, data: dict) -> dict:
    try:
        return schema.load(data)
    except ValidationError as error:
        raise ApiError(400, error_message(error))


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


class Version(Resource):
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
