"""The model store: versions, the checks before promotion, rollback, and a service that follows.

Trained on the sample corpus (a second or two per version); the commands run
as a user runs them (``text_similarity_model update|models ...`` in a
subprocess) where their output and exit status are the promise.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from text_similarity_model import Model
from text_similarity_model.errors import PalestrasError
from text_similarity_model.store.promotion import Thresholds, update
from text_similarity_model.store import ModelStore, StoreBusy

from tests.support.cli import run_cli
from tests.support.servers import load, running_gunicorn

PAUSING_CLI = Path(__file__).parent / "support" / "pausing_cli.py"

# Most tests train several versions or run the CLI in a subprocess: 3-30 s each.
pytestmark = pytest.mark.slow

QUIET = dict(echo=lambda line: None)


@pytest.fixture
def store(tmp_path):
    return ModelStore(tmp_path / "models")


@pytest.fixture
def shrunk_csv(tmp_path, sample_talks):
    """What a crawl broken by a markup change brings back: a third of the talks, editions gone."""
    path = tmp_path / "shrunk.csv"
    sample_talks[sample_talks["ano"] != "2019"].head(60).to_csv(path, index=False)
    return path


def test_the_first_update_is_promoted_with_a_full_report(store, sample_csv, sample_talks):
    result = update(sample_csv, store, **QUIET)
    assert result.promoted and result.replaced is None
    assert store.current().name == result.candidate.name
    report = store.current().report
    assert report["talks"] == {"read": len(sample_talks), "kept": len(sample_talks), "empty": 0, "duplicates": 0}
    assert sum(report["editions"].values()) == len(sample_talks)
    assert report["editions"]["2018 saopaulo"] == ((sample_talks["ano"] == "2018")
                                                   & (sample_talks["cidade"] == "saopaulo")).sum()
    assert 0 < report["evaluation"]["precision@5"] < 1 and 0 < report["evaluation"]["mrr"] <= 1
    assert report["vocabulary_size"] > 1000 and len(report["data_sha256"]) == 64
    loaded = Model.deserialize(store.current_model_path())
    assert loaded.version == result.candidate.name


def test_a_version_is_never_overwritten(store, sample_csv):
    first = update(sample_csv, store, version="v", **QUIET).candidate
    before = first.model_path.read_bytes()
    second = update(sample_csv, store, version="v", **QUIET).candidate
    assert (first.name, second.name) == ("v", "v-2")
    assert first.model_path.read_bytes() == before
    assert Model.deserialize(second.model_path).version == "v-2"


def test_a_shrunken_crawl_is_refused_naming_each_check_with_both_numbers(store, sample_csv, shrunk_csv, tmp_path):
    current = update(sample_csv, store, **QUIET).candidate
    result = run_cli("update", shrunk_csv, "--models-dir", store.folder, "--pidfile", tmp_path / "none.pid")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.strip().splitlines()
    assert f"talks: 60 < 80% of 204 (current {current.name})" in lines
    assert (f"editions: 5 of 16 missing: 2018 florianopolis, 2019 belohorizonte, 2019 florianopolis, "
            f"2019 portoalegre, 2019 saopaulo (current {current.name})") in lines
    assert lines[-1].startswith(f"refused: talks, editions failed; current stays {current.name}; candidate kept as ")
    assert store.current().name == current.name
    refused = [version for version in store.versions() if version.name != current.name]
    assert len(refused) == 1 and refused[0].report["promoted"] is False


def test_force_promotes_anyway_and_records_who_forced_it(store, sample_csv, shrunk_csv):
    update(sample_csv, store, **QUIET)
    result = update(shrunk_csv, store, force=True, **QUIET)
    assert result.promoted and store.current().name == result.candidate.name
    forced = store.current().report["forced"]
    assert "@" in forced["by"]
    assert any(detail.startswith("talks: 60 < 80% of 204") for detail in forced["failed_checks"])
    assert result.summary().startswith(f"promoted {result.candidate.name} (forced)")


def test_a_worse_model_is_refused_on_quality(store, sample_csv, sample_talks, tmp_path):
    update(sample_csv, store, **QUIET)
    # Same talks and editions, tracks shuffled: the related talks no longer share their query's track.
    scrambled = sample_talks.copy()
    scrambled["trilha"] = scrambled["trilha"].sample(frac=1, random_state=1).to_numpy()
    path = tmp_path / "scrambled.csv"
    scrambled.to_csv(path, index=False)
    result = update(path, store, **QUIET)
    assert not result.promoted
    failed = {check.name: check.detail for check in result.checks if not check.passed}
    assert set(failed) == {"P@5", "MRR"}
    assert " < " in failed["P@5"] and "- 0.02 (current" in failed["P@5"]
    # A tolerance wide enough lets it through: the threshold is the only thing that decided.
    assert update(path, store, Thresholds(quality_tolerance=1.0), **QUIET).promoted


def test_thresholds_are_overridable_from_the_command_line(store, sample_csv, shrunk_csv, tmp_path):
    update(sample_csv, store, **QUIET)
    result = run_cli("update", shrunk_csv, "--models-dir", store.folder, "--pidfile", tmp_path / "none.pid",
                 "--min-talks-share", "0.2")
    assert result.returncode == 1  # still refused: editions are missing...
    assert not any(line.startswith("talks:") for line in result.stdout.splitlines())  # ...but 60 talks are enough
    bad = run_cli("update", shrunk_csv, "--models-dir", store.folder, "--min-talks-share", "8")
    assert bad.returncode == 2 and "--min-talks-share must be between 0 and 1, got 8.0" in bad.stderr


def test_old_versions_are_pruned_never_the_current_or_the_previous(tmp_path, sample_csv, shrunk_csv):
    store = ModelStore(tmp_path / "models", keep=3)
    names = [update(sample_csv, store, version=f"v{n}", **QUIET).candidate.name for n in range(1, 4)]
    store.promote("v1")  # an old version made current by hand: history v1, v3, v2
    refused = update(shrunk_csv, store, version="v4", **QUIET)
    assert not refused.promoted
    remaining = [version.name for version in store.versions()]
    assert remaining == ["v1", "v3", "v4"]  # v2 (oldest, neither current nor previous) pruned
    assert store.pointer()["history"] == ["v1", "v3"]
    assert names == ["v1", "v2", "v3"]


def test_rollback_goes_back_to_the_previous_current_version(store, sample_csv, tmp_path):
    update(sample_csv, store, version="v1", **QUIET)
    update(sample_csv, store, version="v2", **QUIET)
    result = run_cli("models", "rollback", "--models-dir", store.folder, "--pidfile", tmp_path / "none.pid")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "rolled back to v1 (was v2)"
    assert store.current().name == "v1"
    again = run_cli("models", "rollback", "--models-dir", store.folder)
    assert again.returncode == 2
    assert "no previous version to roll back to (current: v1)" in again.stderr


def test_models_list_shows_every_version_and_the_current_one(store, sample_csv, shrunk_csv):
    update(sample_csv, store, version="v1", **QUIET)
    update(shrunk_csv, store, version="v2", **QUIET)
    rows = json.loads(run_cli("models", "list", "--models-dir", store.folder, "--json").stdout)
    assert [(row["version"], row["current"], row["promoted"]) for row in rows] == [("v2", False, False),
                                                                                    ("v1", True, True)]
    assert rows[1]["talks"] == 204 and rows[1]["precision@5"] > 0
    table = run_cli("models", "list", "--models-dir", store.folder).stdout.splitlines()
    assert table[1].startswith("  v2 ") and table[1].endswith("refused")
    assert table[2].startswith("* v1 ")
    shown = json.loads(run_cli("models", "show", "v2", "--models-dir", store.folder).stdout)
    assert shown["version"] == "v2" and shown["talks"]["kept"] == 60
    missing = run_cli("models", "show", "v9", "--models-dir", store.folder)
    assert missing.returncode == 2 and "no version 'v9'" in missing.stderr and "models list" in missing.stderr


def test_a_second_training_refuses_while_the_first_holds_the_store(store, sample_csv):
    with store.lock():
        result = run_cli("update", sample_csv, "--models-dir", store.folder)
        with pytest.raises(StoreBusy):
            update(sample_csv, store, **QUIET)
    assert result.returncode == 2
    assert f"is busy: pid {os.getpid()} is training or promoting a model; wait for it" in result.stderr
    assert store.versions() == []


def test_a_crash_while_switching_leaves_the_previous_version_current(store, sample_csv, monkeypatch):
    update(sample_csv, store, version="v1", **QUIET)
    real_replace = os.replace

    def crash_on_the_pointer(source, destination):
        if str(destination).endswith("current.json"):
            raise KeyboardInterrupt("killed while switching")  # what a SIGINT at that instant does
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", crash_on_the_pointer)
    with pytest.raises(KeyboardInterrupt):
        update(sample_csv, store, version="v2", **QUIET)
    monkeypatch.undo()
    assert store.current().name == "v1"
    Model.deserialize(store.current_model_path())
    assert not [path.name for path in store.folder.iterdir() if path.name.endswith(".tmp")]


#: Where the update is killed: the first file it writes has its data written but is not in place;
#: the complete new version is not yet renamed into versions/; the new pointer is written but not in place.
KILL_POINTS = ["fsync:1", "rename:.incoming-", "rename:current.json"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_an_update_killed_inside_its_writes_leaves_the_store_consistent(store, sample_csv, tmp_path, point):
    update(sample_csv, store, version="v1", **QUIET)
    # tests/support/pausing_cli.py stops the real command at the point: the kill lands there every time.
    process = subprocess.Popen([sys.executable, str(PAUSING_CLI), point, "update", str(sample_csv),
                                "--models-dir", str(store.folder), "--version", "v2", "--force",
                                "--pidfile", str(tmp_path / "none.pid")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        said = next((line for line in process.stderr if line.startswith("paused at")), "exited without pausing")
    finally:
        process.kill()
        process.wait()
    assert said == f"paused at {point}\n"
    current = store.current()
    assert current.name == "v1"  # the pointer names the complete version it named...
    assert Model.deserialize(current.model_path).version == "v1"  # ...which loads and verifies
    for version in store.versions():
        assert version.model_path.is_file() and (version.folder / "report.json").is_file()
    # The lock died with its holder; what the killed update left is cleared by the next one.
    update(sample_csv, store, version="after", force=True, **QUIET)
    assert store.current().name == "after"
    assert not list(store.versions_folder.glob(".incoming-*"))


def test_models_init_adopts_a_model_file_from_before_the_store(tmp_path, sample_talks):
    legacy = tmp_path / "models" / "model.pkl"
    legacy.parent.mkdir()
    model = Model(version="antigo")
    model.train(sample_talks)
    model.serialize(legacy)
    result = run_cli("models", "init", "data/sample/talks.csv", "--models-dir", legacy.parent)
    assert result.returncode == 0, result.stderr
    store = ModelStore(legacy.parent)
    assert store.current().name == "antigo"
    assert store.current().report["adopted_from"] == str(legacy)
    assert store.current().report["evaluation"]["precision@5"] > 0
    assert run_cli("models", "init", "data/sample/talks.csv", "--models-dir", legacy.parent).stdout.strip() == (
        f"{legacy.parent}: current version antigo")


def served_version(server) -> dict:
    return requests.get(server.url + "/version", timeout=10).json()


def wait_for_version(server, name: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while (version := served_version(server))["model_version"] != name and time.monotonic() < deadline:
        time.sleep(0.1)
    return version


@pytest.mark.gunicorn
def test_the_service_follows_updates_and_rollbacks_under_load(store, sample_csv, tmp_path):
    update(sample_csv, store, version="v1", **QUIET)
    pidfile = tmp_path / "gunicorn.pid"
    with running_gunicorn(None, tmp_path, extra_env={"MODEL_PATH": "", "MODELS_DIR": str(store.folder)}) as server:
        assert served_version(server)["model_version"] == "v1"
        # Updating, rolling back and promoting under load from another process: no request fails.
        with load(server.url, seconds=120, stop_when_done=True) as result:
            time.sleep(1)
            updated = run_cli("update", sample_csv, "--models-dir", store.folder, "--version", "v2", "--pidfile", pidfile)
            assert updated.returncode == 0, updated.stdout + updated.stderr
            assert f"reloading the service (pid {server.process.pid})" in updated.stdout
            assert updated.stdout.strip().splitlines()[-1].startswith("promoted v2 (P@5 ")
            version = wait_for_version(server, "v2")
            assert version["replaces"] == "v1" and version["evaluation"]["precision@5"] > 0
            rolled = run_cli("models", "rollback", "--models-dir", store.folder, "--pidfile", pidfile)
            assert rolled.stdout.strip().splitlines()[-1] == "rolled back to v1 (was v2)", rolled.stderr
            assert wait_for_version(server, "v1")["model_version"] == "v1"
            promoted = run_cli("models", "promote", "v2", "--models-dir", store.folder, "--pidfile", pidfile)
            assert promoted.returncode == 0, promoted.stderr
            assert wait_for_version(server, "v2")["model_version"] == "v2"
        assert result["failed"] == 0, result
        assert result["versions"].get("v1", 0) > 0 and result["versions"].get("v2", 0) > 0, result


@pytest.mark.gunicorn
def test_a_refused_update_leaves_the_service_untouched(store, sample_csv, shrunk_csv, tmp_path):
    update(sample_csv, store, version="v1", **QUIET)
    with running_gunicorn(None, tmp_path, extra_env={"MODEL_PATH": "", "MODELS_DIR": str(store.folder)}) as server:
        refused = run_cli("update", shrunk_csv, "--models-dir", store.folder, "--pidfile", tmp_path / "gunicorn.pid")
        assert refused.returncode == 1
        server.signal(signal.SIGHUP)  # even a reload by hand serves the current version, still v1
        time.sleep(2)
        assert requests.get(server.url + "/version", timeout=10).json()["model_version"] == "v1"
    assert "reloading the service" not in refused.stdout


def test_an_empty_store_stops_the_service_naming_the_fix(tmp_path):
    with pytest.raises(PalestrasError, match="no current model version; train one"):
        from api import create_app

        create_app({"MODEL_PATH": None, "MODELS_DIR": str(tmp_path / "models")})
