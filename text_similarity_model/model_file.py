"""The model file: a dill pickle behind a JSON header, plus a signed manifest.

Layout of ``MODEL.pkl``::

    b"PALESTRAS-MODEL 1\\n" | 8-byte header length | header JSON | dill payload

The header (metadata, library versions, payload size and SHA-256) is read and
checked *before* anything is unpickled, so a file that is not a model, is
truncated or was written by incompatible libraries is refused with a message
saying which. Next to it, ``MODEL.pkl.json`` (the manifest) holds the SHA-256
of the whole file and, when ``MODEL_SIGNING_KEY`` is set, an HMAC of the
manifest: a pickle runs code when loaded, so a file that does not match its
manifest is never unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import platform
import struct
from importlib import metadata as importlib_metadata
from pathlib import Path

import dill

from .errors import IncompatibleModelError, ModelFileError, TamperedModelError
from .files import unwritable_file_problem, write_atomically

MAGIC = b"PALESTRAS-MODEL 1\n"
_HEADER_LENGTH = struct.Struct(">Q")
SIGNING_KEY_VARIABLE = "MODEL_SIGNING_KEY"

# How many leading version components must match for a model to load:
# scikit-learn only promises to unpickle its own exact version.
_COMPATIBLE_COMPONENTS = {"python": 2, "scikit-learn": 3, "spacy": 2, "numpy": 1, "scipy": 2, "dill": 2}


#: Where the modules that a model file written before the package was grouped
#: by concern (its pickle names them) live now: such a model still loads.
MOVED_MODULES = {
    f"text_similarity_model.{old}": f"text_similarity_model.steps.{new}"
    for old, new in (("caching", "caching"), ("lemmatizer", "lemmatizer"), ("pipeline", "pipeline"),
                     ("ranking", "ranking"), ("repeats", "same_talk"), ("similarity", "similarity"),
                     ("text", "text"), ("vectorizer", "vectorizer"))
}


def pickle_model(model) -> bytes:
    """The payload of a model file: ``model`` pickled by dill."""
    return dill.dumps(model, protocol=5)


class _Unpickler(dill.Unpickler):
    def find_class(self, module: str, name: str):
        return super().find_class(MOVED_MODULES.get(module, module), name)


def unpickle_model(payload: bytes):
    """The object a model file's payload holds; a module it names that moved
    (:data:`MOVED_MODULES`) is read from where it is now."""
    return _Unpickler(io.BytesIO(payload)).load()


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose objects a model file holds."""
    versions = {"python": platform.python_version()}
    for distribution in ("scikit-learn", "spacy", "numpy", "scipy", "dill"):
        versions[distribution] = importlib_metadata.version(distribution)
    return versions


def manifest_path(model_path: str | Path) -> Path:
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".json")


def check_writable_destination(path: str | Path) -> Path:
    """Fail early (before a long training) when ``path`` can't be written."""
    path = Path(path)
    problem = unwritable_file_problem(path, "model.pkl")
    if problem:
        raise ModelFileError(problem)
    return path


def write_model_file(payload: bytes, metadata: dict, path: str | Path, signing_key: bytes | None = None) -> dict:
    """Write the model and its manifest atomically; return the manifest.

    Each file goes to a temporary file in the same folder that is renamed into
    place, so an interrupted write leaves the previous model untouched.
    """
    path = check_writable_destination(path)
    header = json.dumps(
        {
            "metadata": metadata,
            "payload_bytes": len(payload),
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
        },
        sort_keys=True,
    ).encode("utf-8")
    content = MAGIC + _HEADER_LENGTH.pack(len(header)) + header + payload
    manifest = {
        "file": path.name,
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "version": metadata.get("version"),
        "created_at": metadata.get("trained_at"),
        "libraries": metadata.get("libraries"),
    }
    key = signing_key_or_environment(signing_key)
    if key is not None:
        manifest["hmac_sha256"] = _sign(manifest, key)
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    write_atomically(path, content)
    write_atomically(manifest_path(path), manifest_bytes)
    return manifest


def read_model_file(path: str | Path, signing_key: bytes | None = None,
                    version: str | None = None) -> tuple[bytes, dict]:
    """Check a model file against its header, libraries and manifest, and,
    given ``version``, that it was written (and signed) as that version.

    Returns ``(payload, metadata)``; the payload is safe to unpickle only
    because every check passed. Raises a :class:`ModelFileError` subclass
    naming the file and the fix otherwise, whatever the files hold.
    """
    path = Path(path)
    content = _read(path)
    header, payload = _parse(path, content)
    metadata = header["metadata"]
    _check_libraries(path, metadata.get("libraries"))
    manifest = _check_manifest(path, content, signing_key_or_environment(signing_key))
    if version is not None:
        _check_version(path, version, manifest, metadata)
    return payload, metadata


# -- checks -------------------------------------------------------------------

def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(
            f"{path}: no such model file; train one with: make train (or text_similarity_model train-file DATA.csv {path})"
        )
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a folder, not a model file")
    except PermissionError:
        raise ModelFileError(f"{path}: permission denied; make the model file readable")
    except OSError as error:
        raise ModelFileError(f"{path}: can't be read ({error.strerror or type(error).__name__}); "
                             "check the disk or the mount it is on, or retrain it (make train)")


def _parse(path: Path, content: bytes) -> tuple[dict, bytes]:
    retrain = f"train it again with: make train (or text_similarity_model train-file DATA.csv {path})"
    if not content.startswith(MAGIC):
        raise ModelFileError(f"{path}: not a palestras model file; {retrain}")
    start = len(MAGIC) + _HEADER_LENGTH.size
    if len(content) < start:
        raise ModelFileError(f"{path}: truncated model file; {retrain}")
    (header_length,) = _HEADER_LENGTH.unpack(content[len(MAGIC):start])
    try:
        header = json.loads(content[start:start + header_length].decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ModelFileError(f"{path}: truncated or corrupt model header; {retrain}") from None
    problem = _header_problem(header)
    if problem:
        raise ModelFileError(f"{path}: corrupt model header ({problem}); {retrain}")
    payload_bytes, payload_sha256 = header["payload_bytes"], header["payload_sha256"]
    payload = content[start + header_length:]
    if len(payload) != payload_bytes:
        problem = "truncated" if len(payload) < payload_bytes else "corrupt"
        raise ModelFileError(
            f"{path}: {problem} model file ({len(payload)} payload bytes, expected {payload_bytes}); {retrain}"
        )
    if hashlib.sha256(payload).hexdigest() != payload_sha256:
        raise ModelFileError(f"{path}: corrupt model file (payload hash mismatch); {retrain}")
    return header, payload


def _header_problem(header) -> str | None:
    """What the header lacks, None if nothing: checked before anything of it is used."""
    if not isinstance(header, dict):
        return "not a JSON object"
    if not isinstance(header.get("metadata"), dict):
        return "no metadata"
    if type(header.get("payload_bytes")) is not int or not isinstance(header.get("payload_sha256"), str):
        return "no payload size and hash"
    return None


def _check_libraries(path: Path, written_with) -> None:
    installed = library_versions()
    written_with = written_with if isinstance(written_with, dict) else {}
    for library, components in _COMPATIBLE_COMPONENTS.items():
        wanted = written_with.get(library)
        have = installed[library]
        if not isinstance(wanted, str) or wanted.split(".")[:components] != have.split(".")[:components]:
            raise IncompatibleModelError(
                f"{path}: written with {library} {wanted} but {have} is installed; "
                f"retrain it with these libraries (make train) or install {library}=={wanted}"
            )


def _check_manifest(path: Path, content: bytes, key: bytes | None) -> dict:
    manifest = read_manifest(path)
    if hashlib.sha256(content).hexdigest() != manifest.get("sha256"):
        raise TamperedModelError(
            f"{path}: does not match its manifest {manifest_path(path).name} (tampered, truncated or swapped); "
            "refusing to load it: retrain (make train) or restore the matching pair"
        )
    if key is not None and not signature_matches(manifest, key):
        raise TamperedModelError(
            f"{manifest_path(path)}: missing or wrong signature for {SIGNING_KEY_VARIABLE}; "
            "refusing the model: sign it with the same key (train with the key set)"
        )
    return manifest


def _check_version(path: Path, version: str, manifest: dict, metadata: dict) -> None:
    """A store's version is served under its folder's name: the manifest (signed when there is a
    key) and the header must say that name, so a version's files copied under another name (an
    old version, a refused candidate) are refused, not served as the version that name was."""
    written_as = {manifest.get("version"), metadata.get("version")}
    if written_as != {version}:
        raise TamperedModelError(
            f"{manifest_path(path)}: written as version {manifest.get('version')!r}, found as version "
            f"{version!r} (a version's files copied under another name); refusing it: make that version "
            f"current by its own name (text_similarity_model models promote NAME), or retrain"
        )


def read_manifest(model_path: str | Path) -> dict:
    """The manifest beside ``model_path``; raises :class:`TamperedModelError` naming it and the fix
    when it is missing or not a manifest."""
    location = manifest_path(model_path)
    try:
        manifest = json.loads(location.read_text("utf-8"))
    except FileNotFoundError:
        raise TamperedModelError(
            f"{model_path}: no manifest {location.name} beside it, so its integrity can't be checked; "
            "retrain it (make train) or copy the manifest along with the model"
        ) from None
    except OSError as error:
        raise TamperedModelError(f"{location}: can't be read ({error.strerror or type(error).__name__}); "
                                 "make it a readable file, or retrain the model (make train)") from None
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise TamperedModelError(f"{location}: not a valid manifest; retrain the model (make train)") from None
    if not isinstance(manifest, dict):
        raise TamperedModelError(f"{location}: not a valid manifest; retrain the model (make train)")
    return manifest


def signature_matches(manifest: dict, key: bytes) -> bool:
    """Whether ``manifest`` is signed, with ``key``."""
    signature = manifest.get("hmac_sha256")
    try:
        return isinstance(signature, str) and hmac.compare_digest(signature, _sign(manifest, key))
    except (RecursionError, ValueError):  # a manifest nested just short of the parser's limit
        return False


def signing_key_or_environment(explicit: bytes | None = None) -> bytes | None:
    """``explicit``, else ``MODEL_SIGNING_KEY``'s value, else None (no signing, no signature checked)."""
    if explicit is not None:
        return explicit
    value = os.environ.get(SIGNING_KEY_VARIABLE)
    return value.encode("utf-8") if value else None


def _sign(manifest: dict, key: bytes) -> str:
    unsigned = {name: value for name, value in manifest.items() if name != "hmac_sha256"}
    message = json.dumps(unsigned, sort_keys=True).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()
