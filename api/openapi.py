"""The OpenAPI 3 document served at ``GET /openapi.json``.

Request bodies come from the same marshmallow schemas that validate them
(through apispec), so the document can't drift from what the API accepts;
responses are described by the schemas below. Schemathesis checks both
against a live server in the tests.
"""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import INCLUDE, Schema, fields

from text_similarity_model.contract import TEXT_COLUMNS
from text_similarity_model.model import FILTER_COLUMNS

from .errors import kilobytes
from .review import MAX_REVIEW_BODY_BYTES, MAX_REVIEW_TEXT, MAX_SUBMISSIONS, ReviewQuerySchema
from .schemas import (MAX_DIGITS, MAX_REQUEST_LINE, MAX_TEXT_LENGTH, NOT_BLANK, OneOrMany, PredictRequestSchema,
                      RelatedQuerySchema, WholeNumber)


class ResponseSchema(Schema):
    """Response schemas: answers may gain fields, clients ignore the ones they don't know."""

    class Meta:
        unknown = INCLUDE


class ErrorSchema(ResponseSchema):
    message = fields.String(required=True, metadata={"description": "what went wrong and how to fix it"})


class SharedTermSchema(ResponseSchema):
    term = fields.String(required=True)
    weight = fields.Float(required=True, metadata={"description": "the term's share of the score"})


class TalkSchema(ResponseSchema):
    title = fields.String(required=True)
    description = fields.String(required=True)
    trilha = fields.String(metadata={"description": "track slug, e.g. trilha-python"})
    ano = fields.Integer(metadata={"description": "year of the edition"})
    cidade = fields.String(metadata={"description": "city slug, e.g. saopaulo"})
    trilha_url = fields.String(metadata={"description": "the track's page"})
    index = fields.Integer(required=True, metadata={"description": "the talk's row in the model's corpus"})


class PredictionSchema(TalkSchema):
    score = fields.Float(required=True, metadata={"description": "cosine similarity, in (0, 1]"})
    terms = fields.List(fields.Nested(SharedTermSchema), metadata={"description": "terms shared with the query that weigh most"})
    same_talk = fields.Boolean(required=True, metadata={
        "description": "true when the query is this very talk, given again with light edits (a reworded sentence, "
                       "a changed title), not merely a talk on the same subject: its title's or its description's "
                       "TF-IDF cosine to the query's reaches a threshold calibrated on the real corpus"})


class LikelyTrackSchema(ResponseSchema):
    trilha = fields.String(required=True, metadata={"description": "the group's most common track slug"})
    name = fields.String(required=True, metadata={"description": "the group's name, as people read it"})
    trilhas = fields.List(fields.String(), required=True, metadata={
        "description": "the corpus' track slugs of the group (one topic across editions, days and rooms), "
                       "to filter by it"})
    talks = fields.Integer(required=True, metadata={"description": "the group's talks in the corpus"})
    probability = fields.Float(required=True, metadata={"description": "in [0, 1], from the track classifier"})


TRACKS_NOTE = ("why likely tracks are missing or weak, else null: no-tracks, one-track (the corpus has no or a "
               "single track), no-known-words (no word of the text is in the corpus), single-talk (the most likely "
               "track has one talk), untrained (the model predates track suggestions)")


def _likely_tracks(description: str, required: bool) -> fields.List:
    return fields.List(fields.Nested(LikelyTrackSchema), required=required, metadata={"description": description})


class PredictionsSchema(ResponseSchema):
    predictions = fields.List(fields.Nested(PredictionSchema), required=True)
    version = fields.String(required=True, metadata={"description": "the model that answered"})
    likely_tracks = _likely_tracks("POST /predict only: the query's 3 most likely track groups, most likely first",
                                   required=False)
    tracks_note = fields.String(allow_none=True, metadata={"description": f"POST /predict only: {TRACKS_NOTE}"})


class FacetsSchema(ResponseSchema):
    ano = fields.List(fields.Integer(), required=True, metadata={"description": "years of the corpus' talks"})
    cidade = fields.List(fields.String(), required=True, metadata={"description": "city slugs, e.g. saopaulo"})
    trilha = fields.List(fields.String(), required=True, metadata={"description": "track slugs, e.g. trilha-python"})


class VersionSchema(ResponseSchema):
    model_version = fields.String(required=True)
    trained_at = fields.String(required=True)
    n_documents = fields.Integer(required=True)
    data_sha256 = fields.String(required=True)
    libraries = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    version = fields.String()
    vocabulary_size = fields.Integer()
    dropped = fields.Dict(keys=fields.String(), values=fields.Integer())
    pipeline_params = fields.Dict(metadata={"description": "the pipeline's configuration"})
    configuration = fields.String(metadata={"description": "the named configuration of those parameters"})
    evaluation = fields.Dict(allow_none=True, metadata={
        "description": "from the model store: the version's leave-one-out precision@5 and MRR, measured at "
                       "its training (absent for a model file served on its own)"})
    replaces = fields.String(allow_none=True, metadata={"description": "the version this one replaced as current"})
    forced = fields.Dict(allow_none=True, metadata={
        "description": "who promoted it despite failed checks, and which (null when no check was overridden)"})


class HealthSchema(ResponseSchema):
    status = fields.String(required=True)
    model_version = fields.String(required=True)
    request_log = fields.String(required=True)
    ranking = fields.String(required=True, metadata={
        "description": "compiled (the C kernel) or numpy (the kernel was not built: same answers, slower)"})


class StatsSchema(ResponseSchema):
    request_log = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    database = fields.String(required=True)
    requests = fields.Dict(keys=fields.String(), values=fields.Integer())
    first_request_at = fields.String(allow_none=True)
    last_request_at = fields.String(allow_none=True)
    latency_ms = fields.Dict(keys=fields.String(), values=fields.Float())


class ReviewSummarySchema(ResponseSchema):
    format = fields.String(required=True, metadata={"description": "how the submissions were read: JSON or CSV"})
    submissions = fields.Integer(required=True, metadata={"description": "submissions reviewed"})
    skipped = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                          metadata={"description": "submissions left out, by reason (e.g. no text)"})
    already_given = fields.Integer(required=True, metadata={"description": "submissions that are a past talk given again"})
    duplicate_groups = fields.Integer(required=True, metadata={"description": "groups of submissions that are the same talk"})
    in_duplicate_groups = fields.Integer(required=True)
    tracks_differ = fields.Integer(required=True, metadata={
        "description": "submissions whose own track is a past track but not among their suggested ones"})
    tracks_unknown = fields.Integer(required=True, metadata={
        "description": "submissions whose own track is like no past track (not flagged)"})
    tracks_not_comparable = fields.String(required=True, allow_none=True, metadata={
        "description": "why no own track was compared, else null: pretalx-ids (pretalx gave tracks as ids: save the "
                       "submissions with ?expand=track), no-tracks, one-track, untrained (the model's)"})
    n_results = fields.Integer(required=True)


class TrackCheckSchema(ResponseSchema):
    track = fields.String(required=True, metadata={"description": "the submission's own track, as written"})
    status = fields.String(required=True, metadata={
        "description": "matches (among the suggested), differs (a past track, not among them: flagged), unknown "
                       "(like no past track), no-suggestion (see tracks_note), not-comparable (see the summary)"})
    message = fields.String(required=True, allow_none=True, metadata={
        "description": "for differs and unknown, in Portuguese: submetida em Arquitetura; parece Cloud computing"})


class ReviewedSubmissionSchema(ResponseSchema):
    id = fields.Raw(required=True, metadata={"description": "the submission's id or code, else its position from 1"})
    row = fields.Integer(required=True, metadata={"description": "its position in the request, from 1"})
    title = fields.String(required=True)
    description = fields.String(required=True)
    related = fields.List(fields.Nested(PredictionSchema), required=True, metadata={
        "description": "the most related past talks, best first; same_talk marks a talk this submission is"})
    duplicates = fields.List(fields.Raw(), required=True, metadata={
        "description": "ids of the other submissions of this request that are the same talk"})
    suggested_tracks = _likely_tracks("the submission's 3 most likely track groups, most likely first", required=True)
    tracks_note = fields.String(required=True, allow_none=True, metadata={"description": TRACKS_NOTE})
    track_check = fields.Nested(TrackCheckSchema, required=True, allow_none=True, metadata={
        "description": "its own track (a track or trilha field, pretalx's track) against the suggested ones; "
                       "null without one"})
    # Last: the name would hide marshmallow's `fields` from the lines below it.
    fields = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"description": "the submission's other fields, as text"})


class ReviewSchema(ResponseSchema):
    model_version = fields.String(required=True)
    summary = fields.Nested(ReviewSummarySchema, required=True)
    submissions = fields.List(fields.Nested(ReviewedSubmissionSchema), required=True)


def _review_body(max_submissions: int) -> dict:
    """What ``POST /review`` accepts as JSON (api/review.py checks exactly this)."""
    # null as absent: pretalx sends "abstract": null.
    text = {name: {"type": "string", "maxLength": MAX_TEXT_LENGTH[limit], "nullable": True}
            for name, limit in (("title", "title"), ("description", "description"), ("abstract", "description"))}
    submission = {"type": "object", "additionalProperties": True, "properties": {
        "id": {"anyOf": [{"type": "string"}, {"type": "integer"}], "nullable": True},
        "code": {"type": "string", "nullable": True}, **text},
        # A submission has its text in one of them at least (one with none is refused, naming it).
        "anyOf": [{"required": [name]} for name in text]}
    submissions = {"type": "array", "minItems": 1, "maxItems": max_submissions, "items": submission}
    pretalx = {"type": "object", "required": ["results"], "properties": {"results": submissions},
               "description": "a saved page of pretalx's /api/events/<event>/submissions/"}
    return {"anyOf": [submissions, pretalx]}


def _whole_number(converter, field, ret: dict, **kwargs) -> dict:
    """What ``WholeNumber`` accepts: an integer, or the digits of one in range."""
    if isinstance(field, WholeNumber):
        ret.pop("type", None)
        ret.pop("format", None)
        low, high = ret.pop("minimum", None), ret.pop("maximum", None)
        integer = {"type": "integer", **({"minimum": low} if low is not None else {}),
                   **({"maximum": high} if high is not None else {})}
        digits = {"type": "string", "pattern": digits_pattern(low or 0, high), "maxLength": MAX_DIGITS}
        return {"anyOf": [integer, digits]}
    return {}


def digits_pattern(low: int, high: int | None) -> str:
    """The regex of the digits (leading zeros allowed) of a whole number from
    ``low`` to ``high`` (None: no upper bound), as a range's ``Range``
    validator checks it: ``digits_pattern(1, 50)`` is
    ``"^0*([1-9]|[1-4][0-9]|50)$"``."""
    if high is None:
        if low == 0:
            return "^[0-9]+$"
        width = len(str(low))  # every number with more digits than low is in range
        alternatives = _between(low, 10**width - 1) + [f"[1-9][0-9]{{{width},}}"]
    else:
        alternatives = _between(low, high)
    return f"^0*({'|'.join(alternatives)})$"


def _between(low: int, high: int) -> list[str]:
    """Alternatives matching the digits (no leading zeros) of each number from ``low`` to ``high``."""
    alternatives = []
    while low <= high:
        width = len(str(low))
        top = min(high, 10**width - 1)  # the last number of low's width
        alternatives += _same_width(str(low), str(top))
        low = top + 1
    return alternatives


def _same_width(low: str, high: str) -> list[str]:
    """Alternatives matching every string of digits from ``low`` to ``high``, both of one width."""
    if not low:
        return [""]
    if low[0] == high[0]:
        return [low[0] + rest for rest in _same_width(low[1:], high[1:])]
    width = len(low) - 1
    first, last = int(low[0]), int(high[0])
    head, tail = [], []
    if low[1:] != "0" * width:  # low's first digit is followed by only some of the tails
        head = [low[0] + rest for rest in _same_width(low[1:], "9" * width)]
        first += 1
    if high[1:] != "9" * width:
        tail = [high[0] + rest for rest in _same_width("0" * width, high[1:])]
        last -= 1
    digits = str(first) if first == last else f"[{first}-{last}]"
    middle = [digits + "[0-9]" * width] if first <= last else []
    return head + middle + tail


def _one_or_many(converter, field, ret: dict, **kwargs) -> dict:
    """What ``OneOrMany`` accepts: one value, or a list of them."""
    if isinstance(field, OneOrMany):
        ret.pop("type", None)
        items = ret.pop("items")
        return {"anyOf": [items, {"type": "array", "items": items, "maxItems": field.max_values}]}
    return {}


def _response(description: str, schema: str = "Error") -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


# gunicorn answers it before the app sees the request (as JSON: api/worker.py); every query
# string this document allows fits (api/schemas.py, MAX_FILTER_VALUES).
REQUEST_LINE_TOO_LONG = _response(f"request line over {MAX_REQUEST_LINE:,} bytes: query parameters beyond what this "
                                  "document allows")


def build_spec(max_body_bytes: int) -> dict:
    """The document of the API whose bodies may have up to ``max_body_bytes``."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="palestras",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[plugin],
        info={"description": "Finds the most related talks from past TDC editions for a talk's title and description."},
    )
    plugin.converter.add_attribute_function(_whole_number)
    plugin.converter.add_attribute_function(_one_or_many)
    for schema in (ErrorSchema, SharedTermSchema, TalkSchema, PredictionSchema, LikelyTrackSchema, PredictionsSchema,
                   FacetsSchema, VersionSchema, HealthSchema, StatsSchema, PredictRequestSchema, ReviewSchema):
        # The document's names are the classes' without "Schema" (as apispec names them by default).
        spec.components.schema(schema.__name__.removesuffix("Schema"), schema=schema)

    request_schema = spec.to_dict()["components"]["schemas"]["PredictRequest"]
    # One of title/description may be empty or blank, not both.
    request_schema["anyOf"] = [{"properties": {name: {"pattern": NOT_BLANK.pattern}}} for name in TEXT_COLUMNS]
    body = {"$ref": "#/components/schemas/PredictRequest"}
    bad_request = _response("a field is missing or invalid; the message names it")

    spec.path("/predict", operations={"post": {
        "summary": "The talks most related to a title and description, and its likely tracks",
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": body},
            "application/x-www-form-urlencoded": {"schema": body},
        }},
        "responses": {"200": _response("related talks, best first", "Predictions"), "400": bad_request,
                      "408": _response("the body took too long to arrive"),
                      "413": _response(f"body over {kilobytes(max_body_bytes)}"), "415": _response("body neither JSON nor a form")},
    }})
    # A maximum, so that the longest request line this document allows is bounded.
    index = {"name": "index", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0,
                                                                          "maximum": 2**31 - 1}}
    not_found = _response("no talk with that index")
    spec.path("/talks/{index}", operations={"get": {
        "summary": "A talk of the model's corpus", "parameters": [index],
        "responses": {"200": _response("the talk", "Talk"), "404": not_found},
    }})
    related_query = {name: plugin.converter.field2property(field) for name, field in RelatedQuerySchema().fields.items()}
    spec.path("/talks/{index}/related", operations={"get": {
        "summary": "The talks most related to a talk of the corpus, itself excluded",
        "parameters": [index, {"name": "n_results", "in": "query", "required": False, "schema": {
            "anyOf": related_query["n_results"]["anyOf"]}}] + [
            # Repeated in the query string (ano=2017&ano=2018): the body's list form.
            {"name": name, "in": "query", "required": False, "style": "form", "explode": True,
             "description": related_query[name]["description"], "schema": related_query[name]["anyOf"][1]}
            for name in FILTER_COLUMNS],
        "responses": {"200": _response("related talks, best first", "Predictions"), "400": bad_request,
                      "404": not_found, "414": REQUEST_LINE_TOO_LONG},
    }})
    review_n_results = plugin.converter.field2property(ReviewQuerySchema().fields["n_results"])
    spec.path("/review", operations={"post": {
        "summary": "Review a batch of submissions of a call for papers",
        "description": (f"Each submission's most related past talks (same_talk: it is one of them, given again), the "
                        f"other submissions of the batch that are the same talk, and its suggested tracks, checked against "
                        f"its own track. Up to {MAX_SUBMISSIONS} submissions as a "
                        "JSON list, or as CSV (Content-Type: text/csv) with a header line naming title and description "
                        f"(more: 400), with at most {MAX_REVIEW_TEXT:,} characters of text (titles, abstracts and "
                        "descriptions together; more: 413); the request log keeps no submission text."),
        "parameters": [{"name": "n_results", "in": "query", "required": False, "schema": {"anyOf": review_n_results["anyOf"]},
                        "description": review_n_results.get("description", "")}],
        # A CSV body (text/csv, as the page sends a file) is taken too: not described here, as no
        # JSON Schema states "a header line naming title and description" that a generator could follow.
        "requestBody": {"required": True, "content": {"application/json": {"schema": _review_body(MAX_SUBMISSIONS)}}},
        "responses": {"200": _response("each submission with its related past talks and duplicates", "Review"),
                      "400": _response(f"a submission is invalid, more than {MAX_SUBMISSIONS} submissions, or the CSV has "
                                       "no title/description column; the message says which"),
                      "408": _response("the body took too long to arrive"),
                      "413": _response(f"a body over {kilobytes(MAX_REVIEW_BODY_BYTES)}, or over {MAX_REVIEW_TEXT:,} "
                                       "characters of text: the command line reviews any number"),
                      "415": _response("body neither JSON nor CSV")},
    }})
    for path, schema, summary in (("/facets", "Facets", "The values the filters can take, from the corpus"),
                                  ("/version", "Version", "Which model answers, with its metadata"),
                                  ("/health", "Health", "200 once the model is loaded"),
                                  ("/stats", "Stats", "Request counts and latency percentiles from the request log")):
        spec.path(path, operations={"get": {"summary": summary, "responses": {"200": _response(summary, schema)}}})
    spec.path("/metrics", operations={"get": {
        "summary": "Prometheus metrics of the whole service (every worker's), in Prometheus' text format",
        "responses": {"200": {"description": "requests by endpoint and status, latency histograms, the served model, "
                                             "the request log's queue and writes",
                              "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}}},
    }})
    spec.path("/openapi.json", operations={"get": {"summary": "This document", "responses": {
        "200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object"}}}}}}})

    document = spec.to_dict()
    document["components"]["schemas"]["PredictRequest"] = request_schema
    return document
