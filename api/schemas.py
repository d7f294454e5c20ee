"""Request validation with marshmallow (flask-restful's reqparse is deprecated)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Range

MAX_RESULTS = 50
DEFAULT_RESULTS = 3


class WholeNumber(fields.Integer):
    """An integer, or a string of digits (form bodies send ``"10"``).

    Stricter than marshmallow's ``Integer(strict=False)``, which would turn
    ``10.7`` into 10 and ``true`` into 1.
    """

    default_error_messages = {"invalid": "Must be a whole number."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, str):
            text = value.strip()
            if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 12:
                raise self.make_error("invalid")
            value = int(text)
        if not isinstance(value, int):
            raise self.make_error("invalid")
        return value


def n_results_field() -> WholeNumber:
    return WholeNumber(
        load_default=DEFAULT_RESULTS,
        validate=Range(min=1, max=MAX_RESULTS, error=f"Must be between 1 and {MAX_RESULTS}."),
        metadata={"description": f"how many talks to return (1-{MAX_RESULTS}, default {DEFAULT_RESULTS})"},
    )


class PredictRequest(Schema):
    """Body of ``POST /predict`` (JSON object or form fields)."""

    class Meta:
        unknown = EXCLUDE  # clients may send more; we read only these

    title = fields.String(required=True, metadata={"description": "the talk's title (may be empty if description is not)"})
    description = fields.String(required=True, metadata={"description": "the talk's description (may be empty if title is not)"})
    n_results = n_results_field()

    @validates_schema
    def _some_text(self, data, **kwargs):
        if "title" in data and "description" in data and not (data["title"].strip() or data["description"].strip()):
            raise ValidationError("is empty and so is description; give at least one of them", "title")


class RelatedQuery(Schema):
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
            problems = [message for item in problems.values() for message in item]
        text = " ".join(problems) if isinstance(problems, list) else str(problems)
        if text == "Missing data for required field.":
            text = "is required."
        parts.append(f"{field_name}: {text.rstrip('.')}")
    return "; ".join(parts)
