"""What every resource reads of a request: its fields (JSON or form), its
filters, validated by a schema; and the app's services."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager

from flask import current_app, request
from marshmallow import ValidationError

from text_similarity_model import settings
from text_similarity_model.contract import FILTER_COLUMNS

from .errors import ApiError
from .schemas import error_message


def services():
    """The app's :class:`api.Services` (model holder, request log, metrics, OpenAPI document)."""
    return current_app.extensions["palestras"]


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def request_fields() -> dict:
    """The request's fields, from a JSON object or a form body."""
    mimetype = request.mimetype
    if mimetype == "application/json" or mimetype.endswith("+json"):
        with body_deadline():
            body = request.get_data(cache=True)  # raises 413 past the limit
        try:
            data = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(400, "body is not UTF-8 text; send the JSON encoded as UTF-8")
        except RecursionError:
            raise ApiError(400, 'body nests lists or objects too deep to read; send one flat JSON object, '
                                'e.g. {"title": "...", "description": "..."}')
        except ValueError as error:
            raise ApiError(400, f"body is not valid JSON ({error})")
        if not isinstance(data, dict):
            raise ApiError(400, 'body must be a JSON object, e.g. {"title": "...", "description": "..."}')
        return data
    if mimetype in FORM_TYPES:
        with body_deadline():
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


@contextmanager
def body_deadline():
    """Reading the request's body inside this block answers 408 once it has
    taken ``REQUEST_BODY_SECONDS``: a client that sends its headers, then its
    body a byte at a time, would otherwise hold a connection of the worker
    for as long as it likes. Only where gevent has made sockets cooperative
    (gunicorn's gevent workers): elsewhere a read blocks its thread, and the
    server's own timeouts apply."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("socket"):
        yield
        return
    import gevent

    seconds = float(settings.REQUEST_BODY_SECONDS.get())
    timeout = gevent.Timeout(seconds)
    timeout.start()
    try:
        yield
    except gevent.Timeout as fired:
        if fired is not timeout:
            raise
        raise ApiError(408, f"request body not received within {seconds:g} s; send it at once, "
                            "with a Content-Length as long as the body") from None
    finally:
        timeout.close()
