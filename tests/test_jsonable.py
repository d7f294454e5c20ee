"""``jsonable``: the one helper turning pipeline parameters into JSON for metadata and reports."""

import json

import numpy as np

from text_similarity_model.jsonable import jsonable
from text_similarity_model.steps.text import passthrough


def test_parameters_of_every_origin_become_plain_json():
    params = {
        "tfidf__ngram_range": (1, 2),  # a --param grid's tuples
        "tfidf__min_df": np.int64(2),  # a search's draws from NumPy
        "cosine__latent_weight": np.float64(0.5),
        "lemmas__lemmatize": np.bool_(True),
        "tfidf__max_df": float("nan"),
        "tfidf__tokenizer": passthrough,
        "tfidf__preprocessor": None,
        "nested": {1: [(0.25, float("inf"))]},
    }
    assert jsonable(params) == {
        "tfidf__ngram_range": [1, 2],
        "tfidf__min_df": 2,
        "cosine__latent_weight": 0.5,
        "lemmas__lemmatize": True,
        "tfidf__max_df": None,
        "tfidf__tokenizer": "text_similarity_model.steps.text.passthrough",
        "tfidf__preprocessor": None,
        "nested": {"1": [[0.25, None]]},
    }
    assert type(jsonable(params)["tfidf__min_df"]) is int
    # Strict JSON, read back as written.
    text = json.dumps(jsonable(params), allow_nan=False)
    assert json.loads(text) == jsonable(params)
