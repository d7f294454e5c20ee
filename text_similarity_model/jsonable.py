"""``jsonable``: parameters as plain JSON values, for model metadata and reports."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


def jsonable(value):
    """``value`` as plain JSON data, which ``json.dumps`` writes and ``json.loads`` reads back unchanged.

    For pipeline parameters (a model's metadata, ``evaluate --json``, ``tune --json``)
    wherever they came from: ``DEFAULT_PARAMS``, a ``--param`` grid, a search's
    draws, a notebook.

    - mappings -> dicts, their keys as text; tuples, lists and arrays -> lists; recursively;
    - NumPy scalars -> Python numbers, booleans and strings;
    - NaN and infinities -> None: strict JSON has no such numbers (orjson, which
      serves the API's answers, writes null too);
    - functions and classes (``tfidf__tokenizer=passthrough``) -> their dotted
      name, the same in every run, where a ``repr`` would show a memory address;
    - anything else -> its ``repr``.
    """
    if isinstance(value, np.generic | np.ndarray):
        value = value.tolist()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key if isinstance(key, str) else str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)
