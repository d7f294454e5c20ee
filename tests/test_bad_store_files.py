"""A reload never kills the service: a malformed file in the model store, read
on SIGHUP, costs one log line naming the file and the fix; the master lives
and the old model keeps serving. The store's commands read the same files and
say one line too (exit 2).

Through a real gunicorn: the master is the process that reads the store on
SIGHUP, and an exception there stops it (and, under supervisord, the stack).
"""

import hashlib
import json
import os
import shutil
import signal
import struct
import time

import pytest
import requests

from text_similarity_model.model_file import MAGIC, manifest_path
from text_similarity_model.store import ModelStore
from text_similarity_model.store.promotion import update

from tests.support.cli import run_cli
from tests.support.servers import alive, running_gunicorn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pristine_store(tmp_path_factory, sample_csv):
    """v1 and v2, both trained on the sample corpus; v1 current. Each test breaks a copy."""
    store = ModelStore(tmp_path_factory.mktemp("pristine") / "models")
    for name in ("v1", "v2"):
        update(sample_csv, store, version=name, echo=lambda line: None)
    store.promote("v1")
    return store.folder


@pytest.fixture
def store(pristine_store, tmp_path):
    shutil.copytree(pristine_store, tmp_path / "models")
    return ModelStore(tmp_path / "models")


# -- ways a file of the store can be broken -------------------------------------

def write_pointer(text):
    def breaks(store):
        (store.folder / "current.json").write_text(text)
        return "current.json"
    return breaks


def point_at_v2_and(breaking):
    """Make v2 current (as `models promote v2` does), then break one of its files."""
    def breaks(store):
        store.promote("v2")
        return breaking(store.versions_folder / "v2")
    return breaks


def rewrite_header(folder, change):
    """Give v2's model file another header (``change(header) -> bytes``), its manifest updated to match:
    the file is then what its manifest promises, as a file written by another program would be."""
    model = folder / "model.pkl"
    content = model.read_bytes()
    start = len(MAGIC) + 8
    (length,) = struct.unpack(">Q", content[len(MAGIC):start])
    header, payload = json.loads(content[start:start + length]), content[start + length:]
    new_header = change(header)
    content = MAGIC + struct.pack(">Q", len(new_header)) + new_header + payload
    model.write_bytes(content)
    manifest = json.loads(manifest_path(model).read_text())
    manifest.update(sha256=hashlib.sha256(content).hexdigest(), bytes=len(content))
    manifest_path(model).write_text(json.dumps(manifest))
    return "v2/model.pkl"


def header_without_metadata(folder):
    return rewrite_header(folder, lambda header: json.dumps({key: value for key, value in header.items()
                                                             if key != "metadata"}).encode())


def header_nested_deep(folder):
    return rewrite_header(folder, lambda header: b"[" * 100_000 + b"]" * 100_000)


def header_with_text_sizes(folder):
    return rewrite_header(folder, lambda header: json.dumps({**header, "payload_bytes": "many"}).encode())


def manifest_unreadable(folder):
    # A folder where the manifest should be: open() fails with an OSError, as it does for a file
    # without read permission (which root, running the tests in CI, could read anyway).
    path = manifest_path(folder / "model.pkl")
    path.unlink()
    path.mkdir()
    return "v2/model.pkl.json"


def manifest_nested_deep(folder):
    manifest_path(folder / "model.pkl").write_text("[" * 100_000 + "]" * 100_000)
    return "v2/model.pkl.json"


def version_folder_gone(folder):
    shutil.rmtree(folder)
    return "v2"


REFUSED = {
    "pointer {version: 1}": write_pointer('{"version": 1}'),
    "pointer []": write_pointer("[]"),
    "pointer null": write_pointer("null"),
    "pointer not JSON": write_pointer('{"version": "v2", "hist'),
    "pointer history not a list": write_pointer('{"version": "v2", "history": "v2"}'),
    "pointer names no version": write_pointer('{"version": "v9", "history": ["v9"]}'),
    "model header without metadata": point_at_v2_and(header_without_metadata),
    "model header nested 100,000 deep": point_at_v2_and(header_nested_deep),
    "model header with sizes as text": point_at_v2_and(header_with_text_sizes),
    "manifest unreadable": point_at_v2_and(manifest_unreadable),
    "manifest nested 100,000 deep": point_at_v2_and(manifest_nested_deep),
    "version folder gone": point_at_v2_and(version_folder_gone),
}


def served(server) -> str:
    return requests.get(server.url + "/version", timeout=10).json()["model_version"]


def wait_for_version(server, name, timeout=60) -> dict:
    """Until /version answers ``name`` (the old workers finish first); returns the answer."""
    deadline = time.monotonic() + timeout
    while (answer := requests.get(server.url + "/version", timeout=10).json())["model_version"] != name:
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.05)
    return answer


def wait_for_log(server, text, timeout=60):
    """Until ``text`` is in the service's log (or the master has exited); returns the log."""
    deadline = time.monotonic() + timeout
    while text not in (log := server.log()) and server.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return log


def serve(store, tmp_path):
    # STORE_POLL_SECONDS=0: the service reloads on SIGHUP only, so each test sees exactly one reload
    # (its watch could otherwise see the broken current.json first, and refuse it once more).
    return running_gunicorn(None, tmp_path, workers=1, extra_env={
        "MODEL_PATH": "", "MODELS_DIR": str(store.folder), "STORE_POLL_SECONDS": "0"})


@pytest.mark.gunicorn
@pytest.mark.parametrize("case", REFUSED)
def test_a_malformed_store_file_on_reload_costs_one_log_line_never_the_service(case, store, tmp_path):
    with serve(store, tmp_path) as server:
        assert served(server) == "v1"
        broken = REFUSED[case](store)
        server.signal(signal.SIGHUP)
        log = wait_for_log(server, "refused new model")
        assert alive(server.process.pid), log[-3000:]
        assert served(server) == "v1"
        refusals = [line for line in log.splitlines() if "refused new model" in line]
        assert len(refusals) == 1, log[-3000:]
        assert broken in refusals[0] and "still serving version v1" in refusals[0]
        assert "Traceback" not in log
        # The fix it names works: v2 made current again by the command, and the service follows.
        if case.startswith("pointer"):
            assert run_cli("models", "promote", "v2", "--models-dir", store.folder,
                       "--pidfile", server.pidfile).returncode == 0
            wait_for_version(server, "v2")


@pytest.mark.gunicorn
def test_a_malformed_report_leaves_the_figures_out_not_the_version(store, tmp_path):
    """A version's report is what its training measured, not part of the model: a verified model
    with a broken report is served, /version without figures, and the log says which file."""
    with serve(store, tmp_path) as server:
        store.promote("v2")
        report = store.versions_folder / "v2" / "report.json"
        report.write_text("[]")
        server.signal(signal.SIGHUP)
        answer = wait_for_version(server, "v2")
        assert alive(server.process.pid)
        assert answer.get("evaluation") is None and answer.get("replaces") is None
        warnings = [line for line in server.log().splitlines() if str(report) in line]
        assert len(warnings) == 1 and "not a JSON object" in warnings[0], server.log()[-3000:]
        assert "Traceback" not in server.log()


@pytest.mark.parametrize("text", ['{"version": 1}', "[]", "null", '{"version": "v2", "hist',
                                  '{"version": "v2", "history": [1]}'])
def test_the_commands_say_one_line_about_a_malformed_pointer_and_promote_repairs_it(store, text):
    (store.folder / "current.json").write_text(text)
    listing = run_cli("models", "list", "--models-dir", store.folder)
    assert listing.returncode == 2, listing.stderr
    lines = listing.stderr.strip().splitlines()
    assert len(lines) == 1 and str(store.folder / "current.json") in lines[0], listing.stderr
    assert "models promote VERSION" in lines[0]
    repaired = run_cli("models", "promote", "v1", "--models-dir", store.folder, "--pidfile", "/nonexistent/pid")
    assert repaired.returncode == 0, repaired.stderr
    assert store.pointer()["version"] == "v1"
    assert run_cli("models", "list", "--models-dir", store.folder).returncode == 0


def test_a_malformed_report_is_listed_without_its_figures(store):
    (store.versions_folder / "v2" / "report.json").write_text('["not", "a", "report"]')
    listing = run_cli("models", "list", "--models-dir", store.folder, "--json")
    assert listing.returncode == 0, listing.stderr
    rows = {row["version"]: row for row in json.loads(listing.stdout)}
    assert rows["v2"]["precision@5"] is None and rows["v1"]["precision@5"] > 0


def test_a_service_never_starts_on_a_malformed_pointer_it_says_which(store, tmp_path):
    """Not a reload, a start: the same line, and gunicorn exits instead of serving nothing."""
    (store.folder / "current.json").write_text("[]")
    from api import create_app
    from text_similarity_model.errors import PalestrasError

    with pytest.raises(PalestrasError, match="current.json"):
        create_app({"MODEL_PATH": None, "MODELS_DIR": str(store.folder),
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'requests.db'}"})
    assert os.path.exists(store.folder / "versions" / "v1" / "model.pkl")  # nothing of the store touched


def test_an_unexpected_error_while_reloading_is_logged_and_the_old_model_kept(store, monkeypatch, caplog):
    """No file can cause this any more (the cases above); a bug still must not stop the master.
    The bug is simulated (the store raising what it never raises), in process."""
    from api.model_holder import ModelHolder

    holder = ModelHolder(store=store)
    def a_bug(self):
        raise RuntimeError("a bug in the store's code")

    monkeypatch.setattr(ModelStore, "to_serve", a_bug)
    assert holder.reload() is False
    assert holder.model.version == "v1"
    assert "refused new model: unexpected error (a bug" in caplog.text and "a bug in the store's code" in caplog.text
