"""Request validation with marshmallow (flask-restful's reqparse is deprecated)."""

from __future__ import annotations

import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Range

from text_similarity_model.contract import N_RESULTS

MAX_RESULTS = 50


class WholeNumber(fields.Integer):
    """An integer, or a string of digits (form bodies send ``"10"``).

    Stricter than marshmallow's ``Integer(strict=False)``, which would turn
    ``10.7`` into 10 and ``true`` into 1; as JSON Schema does, ``5.0`` is 5.
    The OpenAPI document describes exactly this (see api/openapi.py).
    """

    default_error_messages = {"invalid": "Must be a whole number."}
    DIGITS = re.compile(r"[0-9]+")

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, str):
            if not self.DIGITS.fullmatch(value):
                raise self.make_error("invalid")
            digits = value.lstrip("0") or "0"
            # Anything this long is out of range anyway; spares int() a whole body of digits.
            return int(digits) if len(digits) <= 18 else 10**18
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int):
            raise self.make_error("invalid")
        return value


def n_results_field() -> WholeNumber:
    return WholeNumber(
        load_default=N_RESULTS,
        validate=Range(min=1, max=MAX_RESULTS, error=f"Must be between 1 and {MAX_RESULTS}."),
        metadata={"description": f"how many talks to return (1-{MAX_RESULTS}, default {N_RESULTS})"},
    )


class OneOrMany(fields.List):
    """A list of values, or one value taken as a list of one: JSON sends
    ``"cidade": "saopaulo"`` or ``["saopaulo", "recife"]``, a form sends the
    field once or repeats it. An empty text (a form's "any" choice) is no value.
    The OpenAPI document describes exactly this (see api/openapi.py)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (list, tuple)):
            value = [value]
        if isinstance(self.inner, fields.String):
            value = [item for item in value if item != ""]
        return super()._deserialize(value, attr, data, **kwargs)


def filter_field(item: fields.Field, what: str, example: str) -> OneOrMany:
    return OneOrMany(item, metadata={"description": (
        f"keep only talks of these {what} (one value or a list, e.g. {example}); "
        "a value no talk has matches nothing; GET /facets lists the values"
    )})


class FiltersSchema(Schema):
    """The filters of ``POST /predict`` and ``GET /talks/<index>/related``."""

    ano = filter_field(WholeNumber(validate=Range(min=0)), "years", "2018")
    cidade = filter_field(fields.String(), "cities", '"saopaulo"')
    trilha = filter_field(fields.String(), "tracks", '"trilha-python"')


class PredictRequestSchema(FiltersSchema):
    """Body of ``POST /predict`` (JSON object or form fields)."""

    class Meta:
        unknown = EXCLUDE  # clients may send more; we read only these

    title = fields.String(required=True, metadata={"description": "the talk's title (may be empty if description is not)"})
    description = fields.String(required=True, metadata={"description": "the talk's description (may be empty if title is not)"})
    n_results = n_results_field()

    @validates_schema
    def _some_text(self, data, **kwargs):
        # Whitespace-only text is allowed: it is simply a query that matches nothing.
        if data.get("title") == "" and data.get("description") == "":
            raise ValidationError("is empty and so is description; give at least one of them", "title")


class RelatedQuerySchema(FiltersSchema):
    """Query string of ``GET /talks/<index>/related``."""

    class Meta:
        unknown = EXCLUDE

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
