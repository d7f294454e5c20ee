"""A faithful re-implementation of the original design's prediction path, as
the baseline of ``predict_bench.py`` (never used by the product).

What the talk's system did on every query: run the text through a spaCy
``Language`` with the lookup lemmatizer, join the lemmas, ``TfidfVectorizer``
(defaults) ``.transform``, sklearn's ``cosine_similarity`` against the whole
corpus wrapped in a pandas ``Series``, ``nlargest``, and one
``DataFrame.iloc[i].to_dict()`` per result.
"""

from __future__ import annotations

import pandas as pd
import spacy
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.pipeline import Pipeline


class OriginalLemmatizer(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        self.nlp_ = spacy.blank("pt")
        self.nlp_.add_pipe("lemmatizer", config={"mode": "lookup"})
        self.nlp_.initialize()
        return self

    def transform(self, X):
        return [
            " ".join(t.lemma_ for t in self.nlp_(text.lower())
                     if not (t.is_stop or t.is_punct or t.like_num or t.is_space))
            for text in X
        ]


class OriginalCosineSimilarities(BaseEstimator):
    def fit(self, X, y=None):
        self.corpus_ = X
        return self

    def predict(self, X):
        return pd.Series(cosine_similarity(X, self.corpus_)[0])


class OriginalModel:
    def train(self, talks: pd.DataFrame) -> "OriginalModel":
        self.talks = talks.reset_index(drop=True)
        self.pipeline = Pipeline([
            ("lemmatizer", OriginalLemmatizer()),
            ("tfidf", TfidfVectorizer()),
            ("cosine", OriginalCosineSimilarities()),
        ])
        self.pipeline.fit((self.talks["title"] + " " + self.talks["description"]).tolist())
        return self

    def predict(self, query: dict, n_results: int = 3) -> dict:
        similarities = self.pipeline.predict([query["title"] + " " + query["description"]])
        best = similarities.nlargest(n_results)
        predictions = []
        for index, score in best.items():
            talk = self.talks.iloc[index].to_dict()
            talk["score"] = float(score)
            talk["index"] = int(index)
            predictions.append(talk)
        return {"predictions": predictions, "version": "original"}
