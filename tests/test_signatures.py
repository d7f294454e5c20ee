"""What MODEL_SIGNING_KEY promises: a version is served only under the name it
was signed as, promotion refuses what the services' key would refuse, and no
stray unsigned model.pkl is unpickled when a key is set.

Without a key the manifest's SHA-256 only catches accidents (whoever can write
the file can write its manifest): docs/operating.md, "What the signature promises".
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from text_similarity_model import Model
from text_similarity_model.model_file import SIGNING_KEY_VARIABLE, library_versions, write_model_file
from text_similarity_model.store import ModelStore

from tests.support.cli import run_cli
from tests.support.servers import alive, running_gunicorn

pytestmark = pytest.mark.slow

KEY, OTHER_KEY = "the services' key", "another key"
REPORT = {"promoted": True}


@pytest.fixture(scope="module")
def model(sample_talks):
    """A model of its own (the store renames it at each add)."""
    model = Model(version="base")
    model.train(sample_talks)
    return model


def add_version(store: ModelStore, model: Model, name: str, key: str | None):
    """``name`` written into ``store`` as a training would, signed with ``key`` (None: unsigned)."""
    with pytest.MonkeyPatch.context() as environment:
        if key:
            environment.setenv(SIGNING_KEY_VARIABLE, key)
        else:
            environment.delenv(SIGNING_KEY_VARIABLE, raising=False)
        model.version = name
        return store.add(model, REPORT)


def cli(*arguments, key=None):
    """The command run with ``key`` as the signing key (None: no key)."""
    if key:
        return run_cli(*arguments, env={SIGNING_KEY_VARIABLE: key})
    return run_cli(*arguments, unset=(SIGNING_KEY_VARIABLE,))


def served(server) -> str:
    return requests.get(server.url + "/version", timeout=10).json()["model_version"]


# -- the signature covers the version's name ----------------------------------------

@pytest.mark.gunicorn
@pytest.mark.parametrize("swapped_in", ["an old version", "a refused candidate"])
def test_a_signed_version_copied_under_another_name_is_refused(swapped_in, model, tmp_path):
    store = ModelStore(tmp_path / "models")
    add_version(store, model, "old", KEY)
    add_version(store, model, "current", KEY)
    add_version(store, model, "candidate", KEY)  # a training the checks refused: kept, never promoted
    store.promote("current")
    with running_gunicorn(None, tmp_path, workers=1, extra_env={
            "MODEL_PATH": "", "MODELS_DIR": str(store.folder), SIGNING_KEY_VARIABLE: KEY}) as server:
        assert served(server) == "current"
        # Someone who can write the store, not sign: another version's files, signed with the
        # right key, put where the current version's were. Its hash and signature both hold.
        source = store.versions_folder / ("old" if swapped_in == "an old version" else "candidate")
        for name in ("model.pkl", "model.pkl.json"):
            shutil.copyfile(source / name, store.versions_folder / "current" / name)
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while "refused new model" not in server.log():
            assert server.process.poll() is None and time.monotonic() < deadline, server.log()[-3000:]
            time.sleep(0.05)
        assert alive(server.process.pid) and served(server) == "current"
        refusal = next(line for line in server.log().splitlines() if "refused new model" in line)
        assert f"written as version '{source.name}', found as version 'current'" in refusal
    # The command refuses it too, before any switch.
    promoted = cli("models", "promote", "current", "--models-dir", store.folder, "--pidfile", "/nonexistent", key=KEY)
    assert promoted.returncode == 2 and f"written as version '{source.name}'" in promoted.stderr


# -- promotion refuses what the services' key would refuse ------------------------

@pytest.fixture
def signed_store(model, tmp_path):
    """A store whose current version v1 is signed with KEY: its services run with KEY."""
    store = ModelStore(tmp_path / "models")
    add_version(store, model, "v1", KEY)
    store.promote("v1")
    return store


@pytest.mark.parametrize("candidate_key, command_key, refusal", [
    (None, None, f"the current version v1 is signed, so the services check signatures, but {SIGNING_KEY_VARIABLE} "
                 "is not set here: set it to their key; candidate not promoted"),
    (OTHER_KEY, OTHER_KEY, f"{SIGNING_KEY_VARIABLE} is not the key that signed the current version v1, the "
                           "services' key: set theirs"),
    (None, KEY, f"missing or wrong signature for {SIGNING_KEY_VARIABLE}"),
    (OTHER_KEY, KEY, f"missing or wrong signature for {SIGNING_KEY_VARIABLE}"),
])
def test_promote_refuses_a_version_the_services_would_refuse(signed_store, model, candidate_key, command_key,
                                                            refusal):
    add_version(signed_store, model, "candidate", candidate_key)
    result = cli("models", "promote", "candidate", "--models-dir", signed_store.folder, "--pidfile", "/nonexistent",
                 key=command_key)
    assert result.returncode == 2, result.stdout + result.stderr
    assert refusal in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert signed_store.current().name == "v1"


def test_promote_with_the_services_key_promotes_a_version_it_signed(signed_store, model):
    add_version(signed_store, model, "candidate", KEY)
    result = cli("models", "promote", "candidate", "--models-dir", signed_store.folder, "--pidfile", "/nonexistent",
                 key=KEY)
    assert result.returncode == 0, result.stderr
    assert signed_store.current().name == "candidate"


def test_rollback_refuses_a_previous_version_the_services_key_would_refuse(signed_store, model):
    # v0 was current before keys were set (unsigned); v1, signed, is current now.
    add_version(signed_store, model, "v0", None)
    signed_store.promote("v0")
    signed_store.promote("v1")
    refused = cli("models", "rollback", "--models-dir", signed_store.folder, "--pidfile", "/nonexistent", key=KEY)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"missing or wrong signature for {SIGNING_KEY_VARIABLE}" in refused.stderr
    assert "v0" in refused.stderr and signed_store.current().name == "v1"
    # A signed previous version rolls back as before.
    add_version(signed_store, model, "v2", KEY)
    signed_store.promote("v2")
    rolled = cli("models", "rollback", "--models-dir", signed_store.folder, "--pidfile", "/nonexistent", key=KEY)
    assert rolled.returncode == 0, rolled.stderr
    assert signed_store.current().name == "v1"


def test_update_without_the_services_key_refuses_before_training(signed_store, sample_csv):
    result = cli("update", sample_csv, "--models-dir", signed_store.folder, "--pidfile", "/nonexistent")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{SIGNING_KEY_VARIABLE} is not set here: set it to their key; nothing trained" in result.stderr
    assert [version.name for version in signed_store.versions()] == ["v1"]
    wrong = cli("update", sample_csv, "--models-dir", signed_store.folder, "--pidfile", "/nonexistent", key=OTHER_KEY)
    assert wrong.returncode == 2 and "is not the key that signed the current version v1" in wrong.stderr
    # With the key: trained, signed, promoted; and the service's key verifies it.
    right = cli("update", sample_csv, "--models-dir", signed_store.folder, "--pidfile", "/nonexistent",
                "--version", "v2", key=KEY)
    assert right.returncode == 0, right.stdout + right.stderr
    assert signed_store.current().name == "v2"
    assert signed_store.current().load_model(KEY.encode()).version == "v2"


def test_update_forced_without_the_key_says_so_in_the_report(signed_store, sample_csv):
    """Changing keys (docs/operating.md): a forced update, recorded as such."""
    result = cli("update", sample_csv, "--models-dir", signed_store.folder, "--pidfile", "/nonexistent",
                 "--version", "v2", "--force")
    assert result.returncode == 0, result.stdout + result.stderr
    forced = signed_store.current().report["forced"]
    assert any(detail.startswith("signature: the current version v1 is signed") for detail in forced["failed_checks"])


# -- no stray model.pkl unpickled ------------------------------------------------------

class Trap:
    """A pickle that creates ``marker`` when unpickled: proof that it was."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def stray_model(folder: Path, marker: Path) -> Path:
    """A models/model.pkl from before the store, as anyone who could write the folder could leave
    one: well-formed, matching its (unsigned) manifest, and its payload runs code when unpickled."""
    import dill

    folder.mkdir(parents=True)
    path = folder / "model.pkl"
    write_model_file(dill.dumps(Trap(marker)), {"version": "stray", "libraries": library_versions()}, path,
                     signing_key=None)
    return path


@pytest.mark.parametrize("key", [KEY, None])
def test_make_run_never_unpickles_an_unsigned_stray_model_when_a_key_is_set(key, tmp_path, monkeypatch):
    monkeypatch.delenv(SIGNING_KEY_VARIABLE, raising=False)  # the stray must be unsigned
    marker = tmp_path / "unpickled"
    stray = stray_model(tmp_path / "models", marker)
    environment = {**os.environ, "MODELS_DIR": str(stray.parent), "PIDFILE": str(tmp_path / "gunicorn.pid"),
                   "MODEL_PATH": ""}
    if key:
        environment[SIGNING_KEY_VARIABLE] = key
    venv = Path(sys.executable).parents[1]
    run = subprocess.run(["make", "--no-print-directory", "run", f"VENV={venv}"], capture_output=True, text=True,
                         env=environment, timeout=300, cwd=Path(__file__).parents[1])
    assert run.returncode != 0  # `models init` stops it either way, before gunicorn...
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    if key:  # ...with the key, before unpickling anything
        assert not marker.exists()
        assert len(errors) == 1 and f"missing or wrong signature for {SIGNING_KEY_VARIABLE}" in errors[0], run.stderr
        assert f"not adopted into {stray.parent}" in errors[0]
    else:  # without one, only the hash stands guard: the trap runs (what the docs warn of)
        assert marker.exists()
        assert len(errors) == 1 and "not a palestras Model" in errors[0], run.stderr
