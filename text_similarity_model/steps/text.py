"""Text and vector helpers shared by the pipeline's steps and the API."""

from __future__ import annotations

import unicodedata

import numpy as np


def fold_accents(text: str) -> str:
    """``"aprendizagem de máquina"`` -> ``"aprendizagem de maquina"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def without_lone_surrogates(text: str) -> str:
    """Lone surrogates (valid in a Python str, e.g. from JSON ``"\\ud800"``, but
    not encodable as UTF-8 and fatal to spaCy's string store) become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if 0xD800 <= ord(char) <= 0xDFFF else char for char in text)
    return text


def split_document(document) -> tuple[str, str]:
    """A document is a string, or a ``(title, description)`` pair."""
    if isinstance(document, str):
        return "", document
    title, description = document
    return ("" if title is None else str(title)), ("" if description is None else str(description))


def as_documents(X) -> list:
    """Accept a list/array of strings or pairs, or a DataFrame with title/description."""
    columns = getattr(X, "columns", None)
    if columns is not None:
        return list(zip(X["title"].tolist(), X["description"].tolist()))
    if isinstance(X, np.ndarray) and X.ndim == 2:
        return [tuple(row) for row in X.tolist()]
    if isinstance(X, str):
        raise TypeError("X must be a list of documents, not a single string; wrap it: [text]")
    return list(X)


def passthrough(tokens):
    """Tokenizer for ``TfidfVectorizer`` fed with already-tokenized lemma lists.

    A module-level function (not a lambda) so fitted pipelines pickle.
    """
    return tokens


def l2_normalized(weights: np.ndarray) -> np.ndarray:
    """``weights`` scaled to unit L2 norm (all zeros stay zeros)."""
    norm = np.sqrt(np.dot(weights, weights))
    return weights / norm if norm > 0 else weights
