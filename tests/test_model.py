"""Model: training, predictions, the model file and its failure modes."""

import json
import struct

import numpy as np
import pandas as pd
import pytest

from text_similarity_model import (
    DataError,
    IncompatibleModelError,
    Model,
    ModelFileError,
    TamperedModelError,
)
from text_similarity_model.model_file import MAGIC, manifest_path, write_model_file

ML_QUERY = {
    "title": "Criando e fazendo deploy de uma API REST para modelos de aprendizagem de máquina",
    "description": (
        "Nesta palestra vamos treinar um modelo usando o scikit-learn e usar o Flask para construir "
        "uma API REST capaz de disponibilizar o modelo como um serviço web."
    ),
}


def test_train_cleans_and_reports_what_it_dropped():
    talks = pd.DataFrame(
        {
            "title": ["  Python para dados ", "", "Python para dados", "Kubernetes na prática", "Go"],
            "description": ["Pandas e Jupyter. ", "  ", "Pandas e Jupyter.", "Pods e deploys.", ""],
            "trilha": ["trilha-python", "x", "trilha-python", "trilha-devops", "trilha-go"],
            "ano": ["2018", "2018", "2018", "2019", "2017"],
        }
    )
    model = Model()
    report = model.train(talks)
    assert (report.cleaning.n_read, report.cleaning.n_empty, report.cleaning.n_duplicates) == (5, 1, 1)
    assert len(model) == report.n_documents == 3
    assert model.talk(0) == {"title": "Python para dados", "description": "Pandas e Jupyter.",
                             "trilha": "trilha-python", "ano": 2018, "index": 0}
    assert any("duplicates" in line for line in report.lines())
    assert model.metadata["dropped"] == {"empty": 1, "duplicates": 1}


def test_train_refuses_data_without_text():
    with pytest.raises(DataError, match="no talk has a title or a description"):
        Model().train(pd.DataFrame({"title": ["", " "], "description": ["", ""]}))
    with pytest.raises(DataError, match="description"):
        Model().train(pd.DataFrame({"title": ["só título"]}))


def test_predict_returns_sorted_talks_with_fields_score_and_index(trained_model, sample_talks):
    answer = trained_model.predict(ML_QUERY, n_results=10)
    assert answer["version"] == "sample-test"
    predictions = answer["predictions"]
    assert len(predictions) == 10
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1 for s in scores)
    for prediction in predictions:
        assert set(prediction) == {"title", "description", "trilha", "ano", "cidade", "trilha_url", "score", "index",
                                   "terms", "same_talk"}
        row = sample_talks.iloc[prediction["index"]]
        assert prediction["title"] == row["title"].strip()
        assert isinstance(prediction["ano"], int)
    json.dumps(answer)  # JSON-serialisable as is


def test_predict_scores_equal_the_full_pipeline(trained_model):
    """top-k is the same ranking as scoring and sorting the whole corpus."""
    scores = trained_model.pipeline.predict([(ML_QUERY["title"], ML_QUERY["description"])])[0]
    expected = [i for i in np.lexsort((np.arange(len(scores)), -scores)) if scores[i] > 0][:5]
    predictions = trained_model.predict(ML_QUERY, 5)["predictions"]
    assert [p["index"] for p in predictions] == expected
    np.testing.assert_allclose([p["score"] for p in predictions], scores[expected], atol=1e-9)


def test_unrelated_talks_are_left_out(trained_model):
    assert trained_model.predict({"title": "xyzzy plugh", "description": ""}, 5)["predictions"] == []
    assert trained_model.predict({"title": "", "description": "de para com sem"}, 5)["predictions"] == []


def test_predict_validates_its_arguments(trained_model):
    with pytest.raises(ValueError, match="n_results"):
        trained_model.predict(ML_QUERY, 0)
    with pytest.raises(TypeError, match="title"):
        trained_model.predict({"title": 3, "description": ""})
    with pytest.raises(ModelFileError, match="not trained"):
        Model().predict(ML_QUERY)


def test_related_excludes_the_talk_itself(trained_model):
    related = trained_model.related(0, 5)["predictions"]
    assert 0 < len(related) <= 5
    assert all(p["index"] != 0 for p in related)
    with pytest.raises(IndexError, match="no talk"):
        trained_model.related(len(trained_model))


def test_serialize_round_trip_gives_identical_predictions(trained_model, sample_model_path):
    restored = Model.deserialize(sample_model_path)
    assert restored.metadata == trained_model.metadata
    for query in (ML_QUERY, {"title": "Kubernetes", "description": "containers em produção"}):
        assert restored.predict(query, 8) == trained_model.predict(query, 8)


def test_artifact_records_metadata_and_is_small(sample_model_path):
    metadata = Model.deserialize(sample_model_path).metadata
    assert {"version", "trained_at", "n_documents", "data_sha256", "libraries"} <= set(metadata)
    assert {"python", "scikit-learn", "spacy", "dill"} <= set(metadata["libraries"])
    assert metadata["trained_at"].endswith("Z")
    manifest = json.loads(manifest_path(sample_model_path).read_text())
    assert manifest["version"] == metadata["version"]
    # The whole spaCy lookup table (825k forms) would weigh tens of MB.
    assert sample_model_path.stat().st_size < 3_000_000


def _copy_model(source, destination):
    destination.write_bytes(source.read_bytes())
    manifest_path(destination).write_bytes(manifest_path(source).read_bytes())
    return destination


def test_deserialize_refuses_a_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file.*make train"):
        Model.deserialize(tmp_path / "nope.pkl")


def test_deserialize_refuses_a_file_that_is_not_a_model(tmp_path, sample_csv):
    with pytest.raises(ModelFileError, match="talks.csv: not a palestras model file"):
        Model.deserialize(sample_csv)


def test_deserialize_refuses_a_truncated_file(tmp_path, sample_model_path):
    path = _copy_model(sample_model_path, tmp_path / "model.pkl")
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(ModelFileError, match="truncated"):
        Model.deserialize(path)


def _rewrite_header(path, change):
    content = path.read_bytes()
    start = len(MAGIC) + 8
    (length,) = struct.unpack(">Q", content[len(MAGIC):start])
    header = json.loads(content[start:start + length])
    change(header)
    new_header = json.dumps(header).encode()
    path.write_bytes(MAGIC + struct.pack(">Q", len(new_header)) + new_header + content[start + length:])


def _root(array):
    while isinstance(array, np.ndarray) and array.base is not None:
        array = array.base
    return array


def test_a_model_files_arrays_are_rebuilt_over_the_bytes_read_and_files_written_before_still_load(
        tmp_path, trained_model):
    """Loading reads the file once and rebuilds the arrays over those bytes
    (out-of-band buffers, aligned), not over a second copy; a file whose
    arrays are in the pickle stream, as written before, answers the same."""
    import dill

    query = {"title": "API REST com Flask", "description": "deploy de modelos de machine learning"}
    expected = trained_model.predict(query, 10)
    path = tmp_path / "model.pkl"
    trained_model.serialize(path)
    loaded = Model.deserialize(path)
    assert loaded.predict(query, 10) == expected
    cosine = loaded.pipeline.named_steps["cosine"]
    for array in (cosine.corpus_.data, cosine.inverted_index_.indices, loaded.repeats.descriptions_.data):
        assert isinstance(_root(array), memoryview)  # over the file's buffer, not a copy of its own
        assert array.flags.writeable and array.ctypes.data % 64 == 0
    in_band = tmp_path / "in-band.pkl"
    write_model_file(dill.dumps(trained_model, protocol=5), trained_model.metadata, in_band)
    assert Model.deserialize(in_band).predict(query, 10) == expected


def test_deserialize_refuses_buffers_outside_the_payload(tmp_path, sample_model_path):
    path = _copy_model(sample_model_path, tmp_path / "model.pkl")
    _rewrite_header(path, lambda header: header["buffers"].append([header["payload_bytes"] - 8, 16]))
    with pytest.raises(ModelFileError, match="model.pkl: corrupt model header \\(buffers outside the payload\\)"):
        Model.deserialize(path)


def test_deserialize_refuses_incompatible_library_versions(tmp_path, sample_model_path):
    path = _copy_model(sample_model_path, tmp_path / "model.pkl")
    _rewrite_header(path, lambda header: header["metadata"]["libraries"].update({"scikit-learn": "0.21.3"}))
    with pytest.raises(IncompatibleModelError, match="scikit-learn 0.21.3 but .* is installed"):
        Model.deserialize(path)


def test_deserialize_refuses_a_file_from_before_the_steps_moved_with_the_fix(tmp_path, trained_model):
    """A model file names its classes' modules: one written when the steps lived
    in text_similarity_model/transformers.py can't load, and says to retrain."""
    path = tmp_path / "old.pkl"
    payload = b"ctext_similarity_model.transformers\nLemmatizationTransformer\n."  # such a file's first class
    write_model_file(payload, trained_model.metadata, path)
    with pytest.raises(IncompatibleModelError,
                       match=r"old.pkl: can't be loaded.*transformers.*retrain it \(make train\)"):
        Model.deserialize(path)


def test_a_model_file_from_before_the_package_was_grouped_by_concern_still_loads(tmp_path, trained_model):
    """A store's versions were pickled when the steps were text_similarity_model.lemmatizer,
    .similarity, .repeats...: they keep serving after the upgrade, with the same answers."""
    import copy

    import dill

    from text_similarity_model.model_file import MOVED_MODULES

    # As then, without the track classifier (it came later: such a model suggests no track).
    old_model = copy.copy(trained_model)
    old_model.__dict__ = {name: value for name, value in trained_model.__dict__.items() if name != "tracks"}
    # Protocol 2 names each class as a line of text (GLOBAL: b"cMODULE\nNAME\n"), which the old layout's names replace.
    payload = dill.dumps(old_model, protocol=2)
    for old, new in MOVED_MODULES.items():
        payload = payload.replace(b"c" + new.encode() + b"\n", b"c" + old.encode() + b"\n")
    assert b"text_similarity_model.repeats" in payload and b"text_similarity_model.steps" not in payload

    path = tmp_path / "before.pkl"
    write_model_file(payload, trained_model.metadata, path)
    loaded = Model.deserialize(path)
    assert loaded.predict(ML_QUERY, 5)["predictions"] == trained_model.predict(ML_QUERY, 5)["predictions"]


def test_deserialize_refuses_a_file_that_does_not_match_its_manifest(tmp_path, sample_model_path):
    path = _copy_model(sample_model_path, tmp_path / "model.pkl")
    _rewrite_header(path, lambda header: header["metadata"].update({"version": "forged"}))
    with pytest.raises(TamperedModelError, match="does not match its manifest"):
        Model.deserialize(path)
    manifest_path(path).unlink()
    with pytest.raises(TamperedModelError, match="no manifest"):
        Model.deserialize(path)


def test_signed_manifest_is_checked_with_the_key(tmp_path, trained_model):
    path = tmp_path / "model.pkl"
    trained_model.serialize(path, signing_key=b"segredo")
    assert Model.deserialize(path, signing_key=b"segredo").version == trained_model.version
    with pytest.raises(TamperedModelError, match="signature"):
        Model.deserialize(path, signing_key=b"outra chave")


def test_serialize_into_a_missing_folder_names_it(tmp_path, trained_model):
    with pytest.raises(ModelFileError, match="does not exist"):
        trained_model.serialize(tmp_path / "nao" / "existe" / "model.pkl")


def test_serialize_replaces_the_file_atomically(tmp_path, trained_model):
    path = tmp_path / "model.pkl"
    trained_model.serialize(path)
    trained_model.serialize(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pkl", "model.pkl.json"]


@pytest.mark.real_corpus
@pytest.mark.slow
def test_real_corpus_ml_query_finds_python_ml_or_data_talks(real_model):
    tracks = [p["trilha"] for p in real_model.predict(ML_QUERY, 5)["predictions"]]
    wanted = ("python", "machine-learning", "data-science", "inteligencia-artificial", "big-data")
    assert any(any(word in track for word in wanted) for track in tracks), tracks
