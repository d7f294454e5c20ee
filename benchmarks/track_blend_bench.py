"""Do the curators' tracks help the ranking? A track signal blended into the score, on the judged set.

    .venv/bin/python benchmarks/track_blend_bench.py [--judged J.json] [--data DATA.csv] [--splits 500]

The default pipeline is fitted on the judged file's corpus years (2016-2017 for
the shared file); each of its 64 queries (talks of 2018: their own tracks never
reach anything fitted here) gets its 100 best talks, re-scored as

    (1 - w) * cosine + w * p(the talk's track group | the query)

with p from one of two signals, both learned from the corpus' labels only:
``classifier``: the model's own track classifier (``TrackClassifier``, fitted
as ``Model.train`` fits it, on the corpus' vectors), its probabilities for the
query; ``neighbours``: the track groups of the query's 10 best talks, weighted
by their cosines (the query's neighbours vote). Reported for each signal and
weight: judged nDCG@10, P@5 (grade >= 1), judged share of the top 10 and
same-track P@5 (the proxy such a signal raises by construction).

A weight chosen on the same 64 queries it is measured on flatters it, so the
script also chooses w on a random half of the queries and measures it on the
other half (``--splits`` random halves, both ways), against w = 0 on the same
halves: the figure that says whether a track signal would earn its place.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from text_similarity_model.settings import REAL_CSV, REAL_JUDGED, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
from benchmarks.judged_configurations import read_judged_set  # noqa: E402
CANDIDATES = 100
NEIGHBOURS = 10
# Up to 0.3: beyond, a top 10 is less than 80% judged and its figures are floors (JUDGED.md).
WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3)


def group_probabilities(signal: str, classifier, query_vectors, rankings) -> np.ndarray:
    """(n_queries, n_groups): each query's probability of each of ``classifier.classes_``."""
    if signal == "classifier":
        return classifier.predict_proba(query_vectors)
    column = {group: position for position, group in enumerate(classifier.classes_)}
    votes = np.zeros((len(rankings), len(classifier.classes_)))
    for row, (_indices, scores, groups) in enumerate(rankings):
        for group, score in zip(groups[:NEIGHBOURS], scores[:NEIGHBOURS]):
            if group in column:
                votes[row, column[group]] += score
    totals = votes.sum(axis=1, keepdims=True)
    return np.divide(votes, totals, out=np.zeros_like(votes), where=totals > 0)


def blended_rankings(rankings, probabilities, classes, weight: float) -> list[np.ndarray]:
    column = {group: position for position, group in enumerate(classes)}
    blended = []
    for (indices, scores, groups), row in zip(rankings, probabilities):
        track_p = np.array([row[column[group]] if group in column else 0.0 for group in groups])
        score = (1 - weight) * scores + weight * track_p
        blended.append(indices[np.lexsort((indices, -score))])  # best first, ties by index as top_k does
    return blended


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judged", default=str(REAL_JUDGED))
    parser.add_argument("--data", default=str(REAL_CSV))
    parser.add_argument("--splits", type=int, default=500, help="random halves for the held-out choice of w")
    arguments = parser.parse_args(argv)
    from text_similarity_model.quality.judged import fit_on_judged_corpus
    from text_similarity_model.track_groups import track_key
    from text_similarity_model.track_suggestions import fit_track_classifier

    judged = read_judged_set(arguments.judged, arguments.data)
    if judged is None:
        return 2
    fitted = fit_on_judged_corpus(judged)  # DEFAULT_PARAMS
    features = fitted[:-1]
    # As Model.train: the classifier learns the corpus' vectors as queries, labelled by their track groups.
    classifier = fit_track_classifier(features.transform(judged.corpus[["title", "description"]]),
                                      judged.corpus_tracks())
    corpus_groups = np.array([track_key(slug) for slug in judged.corpus_tracks()], dtype=object)
    query_vectors = features.transform(judged.query_frame())
    rankings = [(indices, scores, corpus_groups[indices])
                for indices, scores in fitted[-1].top_k(query_vectors, CANDIDATES)]
    scorer = judged.scorer()

    print(f"{len(judged.queries)} judged queries against {len(judged.corpus):,} talks of {judged.corpus_years}; "
          f"{len(classifier.classes_)} track groups; the {CANDIDATES} best talks of each re-scored\n")
    print("| signal | w | nDCG@10 | P@5 (grade >= 1) | judged share of top 10 | same-track P@5 (proxy) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    per_query = {}
    for signal in ("classifier", "neighbours"):
        probabilities = group_probabilities(signal, classifier, query_vectors, rankings)
        for weight in WEIGHTS:
            if weight == 0 and signal != "classifier":
                continue
            measures = scorer.measures(blended_rankings(rankings, probabilities, classifier.classes_, weight))
            per_query[signal, weight] = measures["ndcg@10"].to_numpy()
            means = measures.mean()
            print(f"| {'none' if weight == 0 else signal} | {weight:g} | {means['ndcg@10']:.3f} | "
                  f"{means['precision@5']:.3f} | {means['judged_share@10']:.3f} | "
                  f"{means['same_track_precision@5']:.3f} |")

    baseline = per_query["classifier", 0.0]
    print(f"\nw chosen on a random half of the queries, measured on the other ({arguments.splits} splits, both ways):")
    random = np.random.default_rng(0)
    for signal in ("classifier", "neighbours"):
        options = [(weight, per_query[("classifier", 0.0) if weight == 0 else (signal, weight)]) for weight in WEIGHTS]
        gains, chosen_zero = [], 0
        for _ in range(arguments.splits):
            half = np.zeros(len(baseline), dtype=bool)
            half[random.permutation(len(baseline))[: len(baseline) // 2]] = True
            for choose, measure in ((half, ~half), (~half, half)):
                weight, scores = max(options, key=lambda option: (option[1][choose].mean(), -option[0]))
                chosen_zero += weight == 0
                gains.append(scores[measure].mean() - baseline[measure].mean())
        gains = np.array(gains)
        print(f"  {signal}: held-out nDCG@10 {np.mean(gains):+.4f} against no track signal "
              f"(2.5-97.5%: {np.percentile(gains, 2.5):+.4f} to {np.percentile(gains, 97.5):+.4f}); "
              f"w = 0 chosen in {chosen_zero / len(gains):.0%} of the halves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
