"""``POST /review``: a batch of submissions of a call for papers at once.

The same review as ``text_similarity_model review`` (text_similarity_model/
review/), from the same reader: each submission's most related past talks, with ``same_talk``,
and the other submissions of the batch that are the same talk. For a whole
call, up to :data:`MAX_SUBMISSIONS` per request; a larger one goes through
the command line, which has no such limit.

Submissions are unpublished: the request log records that a review happened
(when, how many, which model, how long), never their text.
"""

from __future__ import annotations

import io
import time

from flask import request
from flask_restful import Resource
from marshmallow import EXCLUDE, Schema
from werkzeug.exceptions import RequestEntityTooLarge

from text_similarity_model.contract import N_RELATED
from text_similarity_model.errors import DataError
from text_similarity_model.review.batch import review
from text_similarity_model.review.submissions import (UNREADABLE, Limits, Submissions, TooManySubmissions, TooMuchText,
                                                      parse_submissions)

from .errors import ApiError, kilobytes
from .requests import body_deadline, fields_of, services, validated
from .schemas import MAX_TEXT_LENGTH, n_results_field

#: Submissions per request. A call of TDC São Paulo receives a few hundred
#: per track; 1,000 take 0.24 s of CPU in-process (benchmarks/review_bench.py),
#: time during which the worker answers nothing else.
MAX_SUBMISSIONS = 500

#: Characters of text (titles, abstracts and descriptions) of one request's
#: submissions together. A worker answers nothing else while it reviews:
#: text of new words costs the most (spaCy tokenizes each new word), and 500
#: submissions at every field's limit took ~18 s of CPU, more than gunicorn's
#: 30 s timeout allows on a busy machine. This budget keeps the costliest
#: review at a few seconds (benchmarks/worst_case_bench.py, docs/api.md)
#: while taking 500 submissions of the real corpus' longest talk (938).
MAX_REVIEW_TEXT = 1_000_000

#: The most related talks per submission: an answer holds each of them, with
#: its description, for every submission (the command line takes any number).
MAX_REVIEW_RESULTS = 10

#: The body limit of this endpoint alone (the others keep 64 KB): 500
#: submissions at their longest, with room for JSON's escapes and other fields.
MAX_REVIEW_BODY_BYTES = 8 * 1024 * 1024

CLI_HINT = "review a larger call with the command line: text_similarity_model review SUBMISSIONS.csv MODEL.pkl -o report.html"

# The text fields and their limits, as /predict's (pretalx's abstract joins the description).
LIMITS = Limits(submissions=MAX_SUBMISSIONS, text=MAX_REVIEW_TEXT, lengths={
    "title": MAX_TEXT_LENGTH["title"], "description": MAX_TEXT_LENGTH["description"],
    "abstract": MAX_TEXT_LENGTH["description"]})


class ReviewQuerySchema(Schema):
    """Query string of ``POST /review``."""

    class Meta:
        unknown = EXCLUDE

    n_results = n_results_field(default=N_RELATED, maximum=MAX_REVIEW_RESULTS)  # as the command line's -n


_review_query = ReviewQuerySchema()


def submitted() -> Submissions:
    """The request's submissions, read by the command line's reader as the
    body arrives: a JSON list (or pretalx's ``{"results": [...]}``) or a CSV
    body, each checked as the OpenAPI document describes it (a submission
    the reader can't trust is refused, naming it), its text bounded as
    /predict's is, and all of it by :data:`MAX_REVIEW_TEXT`. Refused at the
    first submission or character too many: the rest is never read."""
    mimetype = request.mimetype
    if mimetype == "text/csv":
        format = "csv"
    elif mimetype == "application/json" or mimetype.endswith("+json"):
        format = "json"
    else:
        raise ApiError(415, "send the submissions as JSON (Content-Type: application/json) or as CSV (text/csv)")
    request.max_content_length = MAX_REVIEW_BODY_BYTES
    try:
        with body_deadline():
            # Decoded as it is read: a CSV a row at a time, JSON whole (then an entry at a time).
            text = io.TextIOWrapper(request.stream, encoding="utf-8-sig", newline="")
            try:
                submissions = parse_submissions(text, "body", format, LIMITS)
            finally:
                text.detach()  # the stream stays the server's to close
    except RequestEntityTooLarge:
        raise ApiError(413, f"request body over {kilobytes(MAX_REVIEW_BODY_BYTES)}; {CLI_HINT}") from None
    except UnicodeDecodeError:
        raise ApiError(400, "body is not UTF-8 text; save the submissions as UTF-8") from None
    except TooManySubmissions:
        # JSON Schema's maxItems: a request the OpenAPI document says is invalid, as a schema-driven client sees it.
        raise ApiError(400, f"at most {MAX_SUBMISSIONS} submissions per request; {CLI_HINT}") from None
    except TooMuchText:
        raise ApiError(413, f"at most {MAX_REVIEW_TEXT:,} characters of text (titles, abstracts and descriptions "
                            f"together) per request; send fewer submissions per request, or {CLI_HINT}") from None
    except DataError as error:
        raise ApiError(400, str(error)) from None
    if submissions.problems:
        count = submissions.skipped[UNREADABLE]
        more = f" (and {count - len(submissions.problems[:3])} more)" if count > 3 else ""
        raise ApiError(400, "; ".join(submissions.problems[:3]) + more)
    return submissions


class ReviewSubmissions(Resource):
    def post(self):
        """Review a batch of submissions: each one's related past talks and the batch's duplicates."""
        query = validated(_review_query, fields_of(request.args))
        submissions = submitted()
        model = services().model_holder.model
        started = time.perf_counter()
        answer = review(submissions, model, query["n_results"]).json()
        latency_ms = (time.perf_counter() - started) * 1000
        count = len(submissions) + sum(submissions.skipped.values())
        services().request_log.record_review(count, query["n_results"], model.version, latency_ms)
        return answer

