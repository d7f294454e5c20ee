"""``POST /review``: a batch of submissions of a call for papers at once.

The same review as ``text_similarity_model review`` (text_similarity_model/
review.py): each submission's most related past talks, with ``same_talk``,
and the other submissions of the batch that are the same talk. For a whole
call, up to :data:`MAX_SUBMISSIONS` per request; a larger one goes through
the command line, which has no such limit.

Submissions are unpublished: the request log records that a review happened
(when, how many, which model, how long), never their text.
"""

from __future__ import annotations

import csv
import io
import json
import time

from flask import request
from flask_restful import Resource
from marshmallow import EXCLUDE, Schema

from text_similarity_model.contract import N_RELATED
from text_similarity_model.review import review, submissions_from_records

from .errors import ApiError
from .resources import fields_of, services, validated
from .schemas import MAX_TEXT_LENGTH, n_results_field

#: Submissions per request. A call of TDC São Paulo receives a few hundred
#: per track; 1,000 take 0.24 s of CPU in-process (benchmarks/review_bench.py),
#: time during which the worker answers nothing else.
MAX_SUBMISSIONS = 500

#: The body limit of this endpoint alone (the others keep 64 KB): 500
#: submissions at their longest, with room for JSON's escapes and other fields.
MAX_REVIEW_BODY_BYTES = 8 * 1024 * 1024

CLI_HINT = "review a larger call with the command line: text_similarity_model review SUBMISSIONS.csv MODEL.pkl -o report.html"

# The text fields and their limits, as /predict's (pretalx's abstract joins the description).
_LIMITS = {"title": MAX_TEXT_LENGTH["title"], "description": MAX_TEXT_LENGTH["description"],
           "abstract": MAX_TEXT_LENGTH["description"]}


class ReviewQuerySchema(Schema):
    """Query string of ``POST /review``."""

    class Meta:
        unknown = EXCLUDE

    n_results = n_results_field(default=N_RELATED)  # as the command line's -n


_review_query = ReviewQuerySchema()


def submitted_records() -> list:
    """The request's submissions: a JSON list (or pretalx's ``{"results": [...]}``), or a CSV body."""
    request.max_content_length = MAX_REVIEW_BODY_BYTES
    body = request.get_data(cache=True)  # raises 413 past the limit
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "body is not UTF-8 text; save the submissions as UTF-8")
    mimetype = request.mimetype
    if mimetype == "text/csv":
        return _csv_records(text)
    if mimetype == "application/json" or mimetype.endswith("+json"):
        try:
            document = json.loads(text)
        except ValueError as error:
            raise ApiError(400, f"body is not valid JSON ({error})")
        if isinstance(document, dict) and isinstance(document.get("results"), list):
            return document["results"]  # a saved page of pretalx's /api/events/<event>/submissions/
        if not isinstance(document, list):
            raise ApiError(400, 'body must be a JSON list of submissions, e.g. [{"title": "...", "description": "..."}], '
                                'or pretalx\'s {"results": [...]}')
        return document
    raise ApiError(415, "send the submissions as JSON (Content-Type: application/json) or as CSV (text/csv)")


def _csv_records(text: str) -> list[dict]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [name.strip() for name in next(reader, [])]
        missing = [name for name in ("title", "description") if name not in header]
        if missing:
            raise ApiError(400, f"the CSV has no {' and no '.join(repr(name) for name in missing)} column; "
                                f"its first line must name at least title,description (found: {','.join(header) or 'nothing'})")
        return [dict(zip(header, values + [""] * (len(header) - len(values)))) for values in reader if values]
    except csv.Error as error:
        raise ApiError(400, f"the CSV can't be read (line {reader.line_num}: {error}); save it again as CSV")


def _check_records(records: list) -> None:
    """Each submission as the OpenAPI document describes it (the command line
    is lenient and skips what it can't read; an API's client wants to know),
    its text bounded as /predict's is, so that a request's cost stays bounded."""
    if not records:
        raise ApiError(400, "no submissions; send a list of them, each with a title and a description")
    problems = []
    for row, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            problems.append(f"submission {row} is not an object; send each as {{\"title\": ..., \"description\": ...}}")
            continue
        identity = record.get("id")
        if identity is not None and (isinstance(identity, bool) or not isinstance(identity, (str, int))):
            problems.append(f"submission {row}: id must be text or a whole number")
        if record.get("code") is not None and not isinstance(record["code"], str):
            problems.append(f"submission {row}: code must be text")
        for name, limit in _LIMITS.items():
            value = record.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                problems.append(f"submission {row}: {name} must be text")
            elif len(value) > limit:
                problems.append(f"submission {row}: {name} has {len(value):,} characters, over {limit:,}; shorten it")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ApiError(400, "; ".join(problems[:3]) + more)


class Review(Resource):
    def post(self):
        """Review a batch of submissions: each one's related past talks and the batch's duplicates."""
        query = validated(_review_query, fields_of(request.args))
        records = submitted_records()
        if len(records) > MAX_SUBMISSIONS:
            raise ApiError(413, f"at most {MAX_SUBMISSIONS} submissions per request, got {len(records):,}; {CLI_HINT}")
        _check_records(records)
        model = services().model_holder.model
        started = time.perf_counter()
        submissions = submissions_from_records(records, "CSV" if request.mimetype == "text/csv" else "JSON")
        answer = review(submissions, model, query["n_results"]).json()
        latency_ms = (time.perf_counter() - started) * 1000
        services().request_log.record_review(len(records), query["n_results"], model.version, latency_ms)
        return answer

