"""The training command through a subprocess, as a user runs it."""

import json

import pytest

from text_similarity_model import Model

from tests.support.cli import run_cli

# Each test starts Python in a subprocess (seconds to import the stack; some train).
pytestmark = pytest.mark.slow


def test_train_then_predict(tmp_path, sample_csv):
    model_path = tmp_path / "model.pkl"
    trained = run_cli("train-file", sample_csv, model_path, "--version", "v-cli")
    assert trained.returncode == 0, trained.stderr
    assert "read" in trained.stdout and "vocabulary" in trained.stdout and "wrote" in trained.stdout
    assert Model.deserialize(model_path).version == "v-cli"

    predicted = run_cli("predict", model_path, "--title", "Deploy de modelos de machine learning",
                        "--description", "API REST com Flask e scikit-learn", "-n", "4")
    assert predicted.returncode == 0, predicted.stderr
    answer = json.loads(predicted.stdout)
    assert answer["version"] == "v-cli"
    assert 1 <= len(answer["predictions"]) <= 4


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        (b"", "is empty"),
        (b"title,description\n", "no talks"),
        (b"titulo,descricao\nA,B\n", "no 'title' and no 'description' column"),
        ("title,description\nAplicação,descrição\n".encode("latin-1"), "not UTF-8"),
    ],
    ids=["missing", "empty", "header-only", "wrong-columns", "latin-1"],
)
def test_bad_data_is_one_line_with_exit_code_2(tmp_path, content, message):
    data = tmp_path / "talks.csv"
    if content is not None:
        data.write_bytes(content)
    result = run_cli("train-file", data, tmp_path / "model.pkl")
    assert result.returncode == 2
    assert message in result.stderr and str(data) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "model.pkl").exists()


def test_model_in_a_missing_folder_fails_before_training(tmp_path, sample_csv):
    result = run_cli("train-file", sample_csv, tmp_path / "sem-pasta" / "model.pkl")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "mkdir" in result.stderr


def test_failed_training_leaves_the_previous_model(tmp_path, sample_csv, sample_model_path):
    model_path = tmp_path / "model.pkl"
    assert run_cli("train-file", sample_csv, model_path, "--version", "old").returncode == 0
    before = model_path.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("titulo\nx\n")
    assert run_cli("train-file", bad, model_path, "--version", "new").returncode == 2
    assert model_path.read_bytes() == before
    assert Model.deserialize(model_path).version == "old"


def test_predict_with_a_missing_model_says_how_to_train(tmp_path):
    result = run_cli("predict", tmp_path / "model.pkl", "--title", "Python")
    assert result.returncode == 2
    assert "make train" in result.stderr


def test_the_old_spelling_of_train_file_still_trains_and_names_the_new_one(tmp_path, sample_csv):
    model_path = tmp_path / "model.pkl"
    result = run_cli("train", sample_csv, model_path, "--version", "old-spelling")
    assert result.returncode == 0, result.stderr
    assert "is now `text_similarity_model train-file`" in result.stderr and "update" in result.stderr
    assert Model.deserialize(model_path).version == "old-spelling"


def test_a_number_of_results_below_one_is_one_line_naming_the_option(tmp_path, sample_model_path):
    for command in (["predict", sample_model_path, "--title", "Python"],
                    ["review", tmp_path / "subs.csv", sample_model_path, "-o", tmp_path / "r.json"]):
        result = run_cli(*command, "-n", "0")
        assert result.returncode == 2
        assert result.stderr.strip() == "error: -n/--n-results: Must be at least 1 (got 0)"
