"""notebooks/exploracao.ipynb runs top to bottom, headless, on the sample corpus."""

import nbclient  # requirements-dev.txt: `make test` installs them
import nbformat
import pytest

from text_similarity_model.settings import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "exploracao.ipynb"


@pytest.mark.notebook
def test_exploration_notebook_executes_on_the_sample_corpus(monkeypatch):
    # The kernel inherits the environment: the sample corpus, matplotlib without a display.
    monkeypatch.setenv("PALESTRAS_NOTEBOOK_DATA", "sample")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error

    outputs = "\n".join(
        output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    )
    assert f"corpus: {NOTEBOOK.parents[1] / 'data' / 'sample' / 'talks.csv'}" in outputs
    assert "read 204 talks" in outputs
    assert "baseline" in outputs and "default" in outputs
    assert "padrão sem BM25" in outputs  # the P@k table by configuration
    assert "relevância julgada: o arquivo julgado" in outputs  # judged on the real corpus only, and it says so


def test_notebook_imports_the_package_rather_than_copying_it():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "from text_similarity_model" in source
    for copied in ("TfidfVectorizer(", "spacy.", "def leave_one_out", "class "):
        assert copied not in source
