"""The straightforward ranking the fast paths are held to, and the queries they are tried on
(``tests/test_fast_path.py``, ``tests/test_ranking_kernel.py``)."""

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer


def straightforward_ranking(model, title, description, n_results, mask=None):
    lemmas, tfidf, cosine = (step for _, step in model.pipeline.steps)
    vectors = TfidfVectorizer.transform(tfidf, lemmas.transform([(title, description)]))  # scikit-learn's own
    scores = cosine.predict(vectors)[0]  # every talk, through a scipy sparse product
    allowed = scores > 0 if mask is None else (scores > 0) & mask
    order = [i for i in np.lexsort((np.arange(len(scores)), -scores)) if allowed[i]][:n_results]
    return order, scores[order]


def sample_queries(talks, count=60):
    rng = np.random.default_rng(7)
    rows = rng.choice(len(talks), size=count, replace=False)
    queries = [(talks.at[i, "title"], talks.at[i, "description"]) for i in rows]
    # Mixed talks: the title of one with the description of another.
    queries += [(talks.at[i, "title"], talks.at[j, "description"]) for i, j in zip(rows[:20], rows[20:40])]
    return queries + [("Python", ""), ("", "kubernetes deploy docker"), ("palavra-desconhecida", "")]
