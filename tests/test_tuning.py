"""Model selection: the estimator's score, the CV splitter, `tune`, the latent
blend it can choose and the defaults it chose."""

import json
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.model_selection import GridSearchCV, cross_val_score

from text_similarity_model import CosineSimilaritiesEstimator, LemmatizationTransformer, Model, build_pipeline
from text_similarity_model.corpus import clean_talks
from text_similarity_model.steps.pipeline import DEFAULT_CONFIGURATION, DEFAULT_PARAMS, configuration_name
from text_similarity_model.quality.tuning import SEARCH_SPACE, RankingScorer, check_params, parse_grid, query_folds, tune

from tests.support.cli import run_cli


@pytest.fixture(scope="module")
def sample_corpus(sample_talks):
    corpus, _ = clean_talks(sample_talks)
    return corpus[["title", "description"]], corpus["trilha"].to_numpy()


# -- score() and the splitter: what scikit-learn's model selection needs ---------------


def test_query_folds_never_put_a_query_in_its_corpus(sample_corpus):
    X, y = sample_corpus
    folds = list(query_folds(4).split(X, y))
    assert len(folds) == 4
    for train, test in folds:
        assert not set(train) & set(test)
    assert sorted(np.concatenate([test for _, test in folds]).tolist()) == list(range(len(X)))
    again = [test.tolist() for _, test in query_folds(4).split(X, y)]
    assert again == [test.tolist() for _, test in folds]  # reproducible


def test_pipeline_score_is_precision_at_5_of_held_out_queries(sample_corpus):
    X, y = sample_corpus
    train, test = next(query_folds(4).split(X, y))
    pipeline = build_pipeline(cosine__latent_components=0).fit(X.iloc[train], y[train])
    assert pipeline[-1].corpus_.shape[0] == len(train)  # the queries are not in it
    score = pipeline.score(X.iloc[test], y[test])
    by_scorer = RankingScorer(5)(pipeline, X.iloc[test], y[test])
    assert 0 < score <= 1 and score == by_scorer["precision@5"]
    assert set(by_scorer) == {"precision@5", "mrr", "ndcg@5"}


@pytest.mark.slow
def test_grid_search_cv_tunes_the_pipeline_with_its_default_score(sample_corpus):
    X, y = sample_corpus
    search = GridSearchCV(build_pipeline(), {"lemmas__title_weight": [1, 3]}, cv=query_folds(3)).fit(X, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_params_ in ({"lemmas__title_weight": 1}, {"lemmas__title_weight": 3})
    scores = cross_val_score(build_pipeline(), X, y, cv=query_folds(3))  # scoring=None: the pipeline's score
    assert len(scores) == 3 and np.all((scores > 0) & (scores <= 1))


@pytest.mark.slow
def test_tune_ranks_a_small_grid(sample_talks):
    result = tune(sample_talks, grid={"lemmas__title_weight": [1, 3], "cosine__latent_components": [0, 20]},
                  n_splits=3, n_jobs=1)
    table = result.table
    assert len(table) == 4 and table["rank"].tolist() == [1, 2, 3, 4]
    assert table["precision"].is_monotonic_decreasing
    assert np.all((table[["precision", "mrr", "ndcg"]] > 0) & (table[["precision", "mrr", "ndcg"]] <= 1))
    assert np.all(table["fit_seconds"] > 0)
    lines = result.lines(top=2)
    assert lines[0].startswith("4 configurations x 3 folds of 204 talks")
    assert "| rank | title_weight | latent_components | P@5 | MRR | nDCG@5 | fit s |" in lines
    assert len(lines) == 4 + 2
    assert set(result.best_params()) == {"lemmas__title_weight", "cosine__latent_components"}


def test_search_space_is_valid_and_covers_the_issue():
    check_params(SEARCH_SPACE)
    for name in ("lemmas__lemmatize", "lemmas__strip_accents", "lemmas__title_weight", "tfidf__sublinear_tf",
                 "tfidf__min_df", "tfidf__max_df", "tfidf__ngram_range", "tfidf__norm",
                 "cosine__latent_components", "cosine__latent_weight"):
        assert len(SEARCH_SPACE[name]) > 1, name


def test_parse_grid():
    grid = parse_grid(["tfidf__min_df=1,2", "tfidf__ngram_range=(1,1),(1,2)", "tfidf__norm=l1,l2",
                       "lemmas__lemmatize=True,False", "tfidf__max_df=1.0"])
    assert grid == {"tfidf__min_df": [1, 2], "tfidf__ngram_range": [(1, 1), (1, 2)], "tfidf__norm": ["l1", "l2"],
                    "lemmas__lemmatize": [True, False], "tfidf__max_df": [1.0]}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_grid(["tfidf__min_df"])
    with pytest.raises(ValueError, match="unknown pipeline parameter tfidf__nope"):
        check_params({"tfidf__nope": [1]})


@pytest.mark.slow
def test_tune_command(sample_csv):
    result = run_cli("tune", sample_csv, "--param", "tfidf__min_df=1,2", "--folds", "3", "--n-jobs", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n_talks"] == 204 and report["searched"] == ["tfidf__min_df"]
    assert [c["rank"] for c in report["configurations"]] == [1, 2]
    assert {c["params"]["tfidf__min_df"] for c in report["configurations"]} == {1, 2}

    for param, message in [("tfidf__nope=1", "unknown pipeline parameter tfidf__nope"),
                           ("tfidf__min_df=-1", "'min_df' parameter of QueryTfidfVectorizer must be")]:
        bad = run_cli("tune", sample_csv, "--param", param, "--folds", "2", "--n-jobs", "1")
        assert bad.returncode == 2 and message in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1


# -- the lemmatizer's switches the search uses -------------------------------------


def test_lemmatize_off_keeps_the_word_forms():
    text = ["Nós jogávamos futebol com serviços"]
    assert LemmatizationTransformer(lemmatize=False).fit_transform(text) == [["jogávamos", "futebol", "serviços"]]
    assert LemmatizationTransformer().fit_transform(text) == [["jogar", "futebol", "serviço"]]


# -- the latent-semantic blend -------------------------------------------------------


@pytest.fixture(scope="module")
def tfidf_corpus(sample_corpus):
    X, y = sample_corpus
    return build_pipeline(cosine__latent_components=0)[:-1].fit_transform(X), y


def test_latent_blend_scores_and_rankings_are_consistent(tfidf_corpus):
    vectors, _ = tfidf_corpus
    sparse_only = CosineSimilaritiesEstimator().fit(vectors)
    blended = CosineSimilaritiesEstimator(latent_components=20, latent_weight=0.5, latent_candidates=10).fit(vectors)
    queries = vectors[:15]
    plain, scores = sparse_only.predict(queries), blended.predict(queries)
    assert np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_array_equal(scores > 0, plain > 0)  # sharing no term still means score 0
    assert not np.allclose(scores, plain)
    for row in range(len(scores)):
        indices, top = blended.top_k(queries[row], 12)[0]
        expected = [i for i in np.lexsort((np.arange(scores.shape[1]), -scores[row])) if scores[row, i] > 0][:12]
        assert indices.tolist() == expected
        np.testing.assert_allclose(top, scores[row, expected])
        # The 10 re-scored candidates (the best TF-IDF matches) outrank the rest.
        candidates = set(np.argsort(-plain[row], kind="stable")[:10].tolist())
        assert set(indices[:10].tolist()) == candidates


def test_latent_blend_is_reproducible_and_pickles(tfidf_corpus):
    vectors, _ = tfidf_corpus
    first = CosineSimilaritiesEstimator(latent_components=20).fit(vectors)
    second = CosineSimilaritiesEstimator(latent_components=20).fit(vectors)
    np.testing.assert_array_equal(first.predict(vectors[:5]), second.predict(vectors[:5]))
    restored = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(restored.predict(vectors[:5]), first.predict(vectors[:5]))
    assert first.latent_corpus_.dtype == np.float32 and first.latent_corpus_.shape == (vectors.shape[0], 20)


def test_latent_components_are_capped_on_tiny_corpora():
    tiny = sp.csr_matrix(np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]))
    estimator = CosineSimilaritiesEstimator(latent_components=100).fit(tiny)
    assert estimator.latent_corpus_.shape == (2, 1)
    assert estimator.top_k(tiny[:1], 2)[0][0].tolist() == [0, 1]


# -- the defaults the search chose -----------------------------------------------------


def test_models_record_the_configuration_they_were_built_with(sample_talks):
    model = Model()
    model.train(sample_talks)
    assert model.metadata["configuration"] == DEFAULT_CONFIGURATION
    recorded = model.metadata["pipeline_params"]
    assert recorded == json.loads(json.dumps(DEFAULT_PARAMS))
    assert configuration_name({"tfidf__min_df": 7}) == "custom"
