"""Every error is JSON ``{"message": ...}`` with its status: never HTML, never a traceback."""

from __future__ import annotations

import logging

import orjson
from flask import current_app, jsonify, make_response, request
from flask_restful import Api
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

log = logging.getLogger(__name__)


class ApiError(HTTPException):
    """An error a client caused, with a message naming the input and the fix."""

    def __init__(self, status: int, message: str):
        super().__init__(description=message)
        self.code = status


def error_response(error: Exception):
    """The JSON response for any exception raised while handling a request."""
    if isinstance(error, HTTPException):
        status, message = error.code or 500, _message(error)
    else:
        log.exception("unexpected error on %s %s", request.method, request.path)
        status, message = 500, "internal error; it is logged on the server"
    response = jsonify(message=message)
    response.status_code = status
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _message(error: HTTPException) -> str:
    if isinstance(error, ApiError):
        return error.description
    if isinstance(error, NotFound):
        return f"no such endpoint: {request.path}; the API is described at /openapi.json"
    if isinstance(error, MethodNotAllowed):
        allowed = ", ".join(sorted(set(error.valid_methods or []) - {"HEAD", "OPTIONS"}))
        return f"{request.method} is not allowed on {request.path}; use {allowed}"
    if isinstance(error, RequestEntityTooLarge):
        limit = kilobytes(current_app.config["MAX_CONTENT_LENGTH"])
        return f"request body over {limit}; send a shorter title and description"
    return error.description or error.name


def kilobytes(size: int) -> str:
    """``65536`` -> ``"64 KB"``: the body limit as the messages and the OpenAPI document write it."""
    return f"{size / 1024:g} KB"


def output_json(data, code, headers=None):
    """flask_restful's JSON representation, encoded by orjson: UTF-8 text as
    is (no \\u escapes), faster than the standard library on an answer's
    floats and strings (benchmarks/README.md, "HTTP")."""
    response = make_response(orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE), code)
    response.headers.extend(headers or {})
    return response


class JsonApi(Api):
    """flask_restful's ``Api`` with our JSON errors for every route, and
    :func:`output_json` for every answer."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.representations = {"application/json": output_json}

    def handle_error(self, e):
        return error_response(e)


def register(app) -> None:
    """JSON errors for what happens outside flask_restful's routes too."""
    app.register_error_handler(HTTPException, error_response)
    app.register_error_handler(Exception, error_response)
