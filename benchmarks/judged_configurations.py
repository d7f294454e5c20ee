"""Named pipeline configurations measured on the judged set: the table of docs/quality.md.

    .venv/bin/python benchmarks/judged_configurations.py [--judged J.json] [--data DATA.csv] [--only NAME ...]

Each configuration is trained on the judged file's corpus years (1,108 talks of
2016-2017 for the shared file) and its 64 queries' top 10 measured against the
graded pairs: judged nDCG@10, P@5 (grade >= 1), P@5 (grade 2), the judged share
of the top 10, and same-track P@5 (the old proxy). ``default`` is whatever
``DEFAULT_PARAMS`` is now; every other row is spelled out completely over
:data:`BASE`, so that it measures the same pipeline whatever the default becomes.

To add a row, add an entry to :data:`CONFIGURATIONS`: a name and the
parameters it changes from :data:`BASE`.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from spacy.lang.pt.stop_words import STOP_WORDS

from text_similarity_model.settings import REAL_CSV, REAL_JUDGED
from text_similarity_model.steps.pipeline import BASELINE_PARAMS, DEFAULT_PARAMS, PREVIOUS_DEFAULT_PARAMS, build_pipeline
from text_similarity_model.steps.text import passthrough

#: The pipeline as ``build_pipeline`` constructs it before ``DEFAULT_PARAMS`` are applied (as of
#: #19): lemma lists, no title weight, plain TF-IDF, cosine without LSA. A key the default sets and
#: this doesn't (a parameter added later) takes its step's constructor default: see :func:`explicit`.
BASE: dict = {
    "lemmas__lemmatize": True,
    "lemmas__strip_accents": False,
    "lemmas__title_weight": 1,
    "lemmas__output": "lemmas",
    "tfidf__tokenizer": passthrough,
    "tfidf__preprocessor": passthrough,
    "tfidf__token_pattern": None,
    "tfidf__lowercase": False,
    "tfidf__stop_words": None,
    "tfidf__sublinear_tf": False,
    "tfidf__min_df": 1,
    "tfidf__max_df": 1.0,
    "tfidf__ngram_range": (1, 1),
    "tfidf__norm": "l2",
    "cosine__latent_components": 0,
    "cosine__latent_weight": 0.5,
}

#: The original design's tokenization: lemmas joined into text, split again by ``TfidfVectorizer``'s
#: token pattern (``node.js`` -> node, js; one-character tokens dropped).
TEXT_TOK = {"lemmas__output": "text", "tfidf__tokenizer": None, "tfidf__preprocessor": None,
            "tfidf__token_pattern": r"(?u)\b\w\w+\b", "tfidf__lowercase": True}
#: spaCy's Portuguese stop words removed again after lemmatizing (a lemma may be one).
STOP_AFTER = {"tfidf__stop_words": sorted(STOP_WORDS)}
NO_LSA = {"cosine__latent_components": 0}


def lsa(weight: float) -> dict:
    return {"cosine__latent_components": 100, "cosine__latent_weight": weight}


def bm25(k1: float, b: float, corpus_norm: str) -> dict:
    """The corpus' rows BM25-weighted (queries stay TF-IDF); ``corpus_norm`` "l2": a cosine, "max": a dot product."""
    return {"tfidf__corpus_weighting": "bm25", "tfidf__k1": k1, "tfidf__b": b, "cosine__corpus_norm": corpus_norm}


#: Name -> parameters changed from :data:`BASE` (``None``: ``DEFAULT_PARAMS`` as they are now).
CONFIGURATIONS: dict[str, dict | None] = {
    "default": None,
    "tw3 LSA100@0.5 (default until #19)": PREVIOUS_DEFAULT_PARAMS,
    "original design": {key: value for key, value in BASELINE_PARAMS.items()},
    "tw1 noLSA": {"lemmas__title_weight": 1, **NO_LSA},
    "tw1 LSA100@0.5": {"lemmas__title_weight": 1, **lsa(0.5)},
    "tw2 noLSA": {"lemmas__title_weight": 2, **NO_LSA},
    "tw2 LSA100@0.2": {"lemmas__title_weight": 2, **lsa(0.2)},
    "tw2 LSA100@0.5": {"lemmas__title_weight": 2, **lsa(0.5)},
    "tw3 noLSA": {"lemmas__title_weight": 3, **NO_LSA},
    "tw1 text-tok": {**TEXT_TOK},
    "tw1 stop-after": {**STOP_AFTER},
    "tw1 sublinear": {"tfidf__sublinear_tf": True},
    "tw2 text-tok stop-after": {"lemmas__title_weight": 2, **TEXT_TOK, **STOP_AFTER},
    "tw2 text-tok stop-after sublinear": {"lemmas__title_weight": 2, **TEXT_TOK, **STOP_AFTER,
                                          "tfidf__sublinear_tf": True},
    "tw2 text-tok stop-after BM25(k1=10,b=0.75) cosine (the default since #19)": {
        "lemmas__title_weight": 2, **TEXT_TOK, **STOP_AFTER, **bm25(10, 0.75, "l2")},
    "tw2 text-tok stop-after sublinear BM25(k1=5,b=0.75) dot product": {
        "lemmas__title_weight": 2, **TEXT_TOK, **STOP_AFTER, "tfidf__sublinear_tf": True, **bm25(5, 0.75, "max")},
    "tw2 text-tok stop-after sublinear BM25(k1=5,b=0.75) cosine": {
        "lemmas__title_weight": 2, **TEXT_TOK, **STOP_AFTER, "tfidf__sublinear_tf": True, **bm25(5, 0.75, "l2")},
    "tw2 text-tok stop-after BM25(k1=1.5,b=0.75) cosine (bm25s' k1)": {
        "lemmas__title_weight": 2, **TEXT_TOK, **STOP_AFTER, **bm25(1.5, 0.75, "l2")},
    "tw2 text-tok stop-after BM25(k1=10,b=0.75) cosine LSA100@0.2": {
        "lemmas__title_weight": 2, **TEXT_TOK, **STOP_AFTER, **bm25(10, 0.75, "l2"), **lsa(0.2)},
    "tw3 text-tok stop-after BM25(k1=10,b=0.75) cosine": {
        "lemmas__title_weight": 3, **TEXT_TOK, **STOP_AFTER, **bm25(10, 0.75, "l2")},
}


def explicit(changes: dict) -> dict:
    """:data:`BASE` with ``changes``, plus every other key ``DEFAULT_PARAMS`` sets at its step's
    constructor default, so that the configuration never inherits a default chosen since."""
    params = {**BASE, **changes}
    missing = [key for key in DEFAULT_PARAMS if key not in params]
    if missing:
        steps = build_pipeline().named_steps
        for key in missing:
            step, name = key.split("__", 1)
            params[key] = type(steps[step])().get_params()[name]
    return params


def params_of(name: str) -> dict:
    changes = CONFIGURATIONS[name]
    return dict(DEFAULT_PARAMS) if changes is None else explicit(changes)


def read_judged_set(judged_path: str, data_path: str):
    """The judged file matched to the talks CSV (a benchmark's ``--judged`` and ``--data``); None
    after printing the one-line error when either is unreadable or they don't match.

    Also silences scikit-learn's note on the stop words (stop-after: tokenizing them gives
    one-letter tokens it won't find; harmless), which every fit of the judged configurations prints."""
    from text_similarity_model.corpus import read_talks_csv
    from text_similarity_model.errors import DataError
    from text_similarity_model.quality.judged import read_judged

    try:
        judged = read_judged(judged_path, read_talks_csv(data_path)[0])
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return None
    warnings.filterwarnings("ignore", message="Your stop_words may be inconsistent")
    return judged


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judged", default=str(REAL_JUDGED))
    parser.add_argument("--data", default=str(REAL_CSV))
    parser.add_argument("--only", nargs="+", metavar="NAME", help="measure only these configurations")
    arguments = parser.parse_args(argv)
    from text_similarity_model.quality.judged import evaluate_configurations, report_lines

    names = arguments.only or list(CONFIGURATIONS)
    unknown = [name for name in names if name not in CONFIGURATIONS]
    if unknown:
        parser.error(f"no configuration {', '.join(map(repr, unknown))}; they are: {', '.join(CONFIGURATIONS)}")
    judged = read_judged_set(arguments.judged, arguments.data)
    if judged is None:
        return 2
    started = time.perf_counter()
    evaluations = evaluate_configurations(judged, {name: params_of(name) for name in names})
    print("\n".join(report_lines(judged, evaluations, f" of {arguments.data}")))
    print(f"\n{len(evaluations)} configurations in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
