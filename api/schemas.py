"""Request validation with marshmallow (flask-restful's reqparse is deprecated)."""

from __future__ import annotations

import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, Range

from text_similarity_model.contract import MAX_RESULTS, N_RESULTS, n_results_problem

#: The longest ``title`` and ``description`` a request may have, in characters.
#: The real corpus' longest are 125 and 830 (2,501 talks, 2016-2018; the
#: sample's 72 and 492): room for any real talk two or five times over, while
#: a request's cost stays bounded (benchmarks/worst_case_bench.py; the 64 KB
#: body alone let a title cost ~0.25 s of CPU).
MAX_TEXT_LENGTH = {"title": 300, "description": 4000}

#: A filter takes at most ``MAX_FILTER_VALUES`` values of at most
#: ``MAX_FILTER_VALUE_LENGTH`` characters each. The page sends a few years and
#: cities and one track; the real corpus' longest track slug has 44
#: characters. Each value costs ~25 µs per filter on the real corpus (np.isin
#: on its columns of Python strings; benchmarks/worst_case_bench.py), so a
#: list of one value per track of the corpus (120) is not taken. On
#: ``GET /talks/<index>/related`` they are in the query string, which must fit
#: the request line (:data:`MAX_REQUEST_LINE`): 30 values of 100 characters
#: for each filter do, with the values made of :data:`URL_SAFE` characters.
MAX_FILTER_VALUES = 30
MAX_FILTER_VALUE_LENGTH = 100

#: The longest request line gunicorn reads (limit_request_line in
#: gunicorn.conf.py, gunicorn's maximum): every query string the OpenAPI
#: document allows fits in it (tests/test_limits.py sends the longest).
MAX_REQUEST_LINE = 8190

#: What a filter value of ``GET /talks/<index>/related`` is made of: the
#: characters a URL carries as they are (RFC 3986's unreserved ones), as the
#: corpus' slugs are, so that a value takes as many bytes in the request line
#: as it has characters (another character takes up to 12, percent-encoded).
URL_SAFE = re.compile(r"[A-Za-z0-9._~-]*")

#: The longest digits a whole number may be sent as (``"0005"``, leading zeros allowed).
MAX_DIGITS = 20

#: The years a filter may ask for.
MAX_YEAR = 9999

#: Text with something in it: a form whose fields hold only spaces is empty to
#: a person. The OpenAPI document states the same rule with this pattern.
NOT_BLANK = re.compile(r"\S")


class WholeNumber(fields.Integer):
    """An integer, or a string of digits (form bodies send ``"10"``).

    Stricter than marshmallow's ``Integer(strict=False)``, which would turn
    ``10.7`` into 10 and ``true`` into 1; as JSON Schema does, ``5.0`` is 5.
    The OpenAPI document describes exactly this (see api/openapi.py).
    """

    default_error_messages = {"invalid": "Must be a whole number.",
                              "too_long": f"Must be a whole number of at most {MAX_DIGITS} digits."}
    DIGITS = re.compile(r"[0-9]+")

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, str):
            if not self.DIGITS.fullmatch(value):
                raise self.make_error("invalid")
            if len(value) > MAX_DIGITS:
                raise self.make_error("too_long")
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int):
            raise self.make_error("invalid")
        return value


def n_results_field(default: int = N_RESULTS, maximum: int = MAX_RESULTS) -> WholeNumber:
    def validate(value):
        problem = n_results_problem(value, maximum)
        if problem:
            raise ValidationError(problem)

    return WholeNumber(
        load_default=default,
        validate=validate,
        metadata={"description": f"how many talks to return (1-{maximum}, default {default})",
                  "minimum": 1, "maximum": maximum},
    )


class OneOrMany(fields.List):
    """A list of values, or one value taken as a list of one: JSON sends
    ``"cidade": "saopaulo"`` or ``["saopaulo", "recife"]``, a form sends the
    field once or repeats it. An empty text (a form's "any" choice) is no value.
    At most ``max_values`` values, empty ones included.
    The OpenAPI document describes exactly this (see api/openapi.py)."""

    default_error_messages = {"too_many": "Must have at most {max_values} values."}

    def __init__(self, inner: fields.Field, max_values: int, **kwargs):
        super().__init__(inner, **kwargs)
        self.max_values = max_values

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (list, tuple)):
            value = [value]
        if len(value) > self.max_values:
            raise self.make_error("too_many", max_values=self.max_values)
        if isinstance(self.inner, fields.String):
            value = [item for item in value if item != ""]
        return super()._deserialize(value, attr, data, **kwargs)


def filter_field(item: fields.Field, what: str, example: str) -> OneOrMany:
    return OneOrMany(item, max_values=MAX_FILTER_VALUES, metadata={"description": (
        f"keep only talks of these {what} (one value or a list of up to {MAX_FILTER_VALUES}, e.g. {example}); "
        "a value no talk has matches nothing; GET /facets lists the values"
    )})


def filter_text(url_safe: bool = False) -> fields.String:
    validators = [Length(max=MAX_FILTER_VALUE_LENGTH, error=f"Must be at most {MAX_FILTER_VALUE_LENGTH} characters.")]
    if not url_safe:
        return fields.String(validate=validators)

    def made_of_url_safe_characters(value: str) -> None:
        if not URL_SAFE.fullmatch(value):
            raise ValidationError("Must be made of letters, digits and - . _ ~, as GET /facets lists the values.")

    return fields.String(validate=[*validators, made_of_url_safe_characters],
                         metadata={"pattern": f"^{URL_SAFE.pattern}$"})


class FiltersSchema(Schema):
    """The filters of ``POST /predict``."""

    ano = filter_field(WholeNumber(validate=Range(min=0, max=MAX_YEAR)), "years", "2018")
    cidade = filter_field(filter_text(), "cities", '"saopaulo"')
    trilha = filter_field(filter_text(), "tracks", '"trilha-python"')


def text_field(name: str, other: str) -> fields.String:
    limit = MAX_TEXT_LENGTH[name]
    return fields.String(
        required=True,
        validate=Length(max=limit, error=f"Must be at most {limit} characters; shorten it."),
        metadata={"description": f"the talk's {name}, up to {limit} characters "
                                 f"(may be empty or blank if {other} is not)"},
    )


def is_blank(text: str) -> bool:
    return not NOT_BLANK.search(text)


class PredictRequestSchema(FiltersSchema):
    """Body of ``POST /predict`` (JSON object or form fields)."""

    class Meta:
        unknown = EXCLUDE  # clients may send more; we read only these

    title = text_field("title", "description")
    description = text_field("description", "title")
    n_results = n_results_field()

    @validates_schema
    def _some_text(self, data, **kwargs):
        # Runs only when both fields are valid text (marshmallow skips it after a field's error).
        if is_blank(data["title"]) and is_blank(data["description"]):
            raise ValidationError("is empty and so is description; give at least one of them", "title")


class RelatedQuerySchema(FiltersSchema):
    """Query string of ``GET /talks/<index>/related``: the same filters, their
    values made of :data:`URL_SAFE` characters, so that the longest query
    string allowed fits the request line."""

    class Meta:
        unknown = EXCLUDE

    cidade = filter_field(filter_text(url_safe=True), "cities", '"saopaulo"')
    trilha = filter_field(filter_text(url_safe=True), "tracks", '"trilha-python"')
    n_results = n_results_field()


def error_message(error: ValidationError) -> str:
    """One sentence naming each invalid field: ``"n_results: Must be between 1 and 50."``."""
    messages = error.normalized_messages()
    parts = []
    for field_name, problems in sorted(messages.items()):
        if isinstance(problems, dict):  # nested (e.g. a list's items)
            problems = list(dict.fromkeys(message for item in problems.values() for message in item))
        text = " ".join(problems) if isinstance(problems, list) else str(problems)
        if text == "Missing data for required field.":
            text = "is required."
        parts.append(f"{field_name}: {text.rstrip('.')}")
    return "; ".join(parts)
