"""The model file: a dill pickle behind a JSON header, plus a signed manifest.

Layout of ``MODEL.pkl``::

    b"PALESTRAS-MODEL 1\\n" | 8-byte header length | header JSON | dill payload

The payload is the pickle stream followed by its out-of-band buffers (pickle
protocol 5: the NumPy arrays' data, each at a multiple of 64 bytes; the
header's ``pickle_bytes`` and ``buffers`` say where): loading reads the file
once, into one buffer, and the arrays are rebuilt over it in place, without a
copy, so loading takes the file's size once, not twice (a file written before
holds its arrays in the pickle stream, and loads as it did).

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
from typing import NamedTuple

import dill
import numpy as np

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


#: The payload starts at a multiple of this many bytes in the file, and each
#: out-of-band buffer at a multiple of it in the payload: the arrays rebuilt
#: over them are aligned (the C kernel reads doubles through pointers).
_BUFFER_ALIGNMENT = 64


class Payload(NamedTuple):
    """A model file's payload: the dill pickle stream, and the out-of-band
    buffers it refers to (pickle protocol 5), in order."""

    pickle: bytes | memoryview
    buffers: list


class _Pickler(dill.Pickler):
    def save(self, obj, save_persistent_id=True):
        # dill pickles a NumPy array through its __reduce__, in band; its
        # __reduce_ex__(5) hands the data over as a PickleBuffer, out of band.
        if type(obj) is np.ndarray and self.proto >= 5:
            self.save_reduce(*obj.__reduce_ex__(self.proto), obj=obj)
            return
        super().save(obj, save_persistent_id)


def pickle_model(model) -> Payload:
    """The payload of a model file: ``model`` pickled by dill, its arrays' data out of band."""
    stream, buffers = io.BytesIO(), []
    _Pickler(stream, protocol=5, buffer_callback=buffers.append).dump(model)
    return Payload(stream.getvalue(), [buffer.raw() for buffer in buffers])


class _Unpickler(dill.Unpickler):
    def find_class(self, module: str, name: str):
        return super().find_class(MOVED_MODULES.get(module, module), name)


class _ViewReader:
    """A read-only file over a memoryview, for the unpickler: each read copies only what it returns."""

    def __init__(self, view: memoryview):
        self.view, self.position = view, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.view) if size is None or size < 0 else min(self.position + size, len(self.view))
        chunk = self.view[self.position:end].tobytes()
        self.position = end
        return chunk

    def readinto(self, buffer) -> int:
        size = min(len(buffer), len(self.view) - self.position)
        buffer[:size] = self.view[self.position:self.position + size]
        self.position += size
        return size

    def readline(self) -> bytes:
        end = self.position
        while end < len(self.view) and self.view[end] != 10:  # lines only name globals: short
            end += 1
        return self.read(end + 1 - self.position)


def unpickle_model(payload: Payload | bytes):
    """The object a model file's payload holds; a module it names that moved
    (:data:`MOVED_MODULES`) is read from where it is now. The arrays of a
    :class:`Payload` are rebuilt over its buffers, in place."""
    if not isinstance(payload, Payload):
        payload = Payload(payload, [])
    stream = payload.pickle
    reader = io.BytesIO(stream) if isinstance(stream, bytes) else _ViewReader(memoryview(stream))
    return _Unpickler(reader, buffers=payload.buffers).load()


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


def write_model_file(payload: Payload | bytes, metadata: dict, path: str | Path,
                     signing_key: bytes | None = None) -> dict:
    """Write the model and its manifest atomically; return the manifest.

    Each file goes to a temporary file in the same folder that is renamed into
    place, so an interrupted write leaves the previous model untouched.
    """
    path = check_writable_destination(path)
    layout = {}
    if isinstance(payload, Payload):
        payload, layout = _lay_out(payload)
    header = json.dumps(
        {
            "metadata": metadata,
            "payload_bytes": len(payload),
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            **layout,
        },
        sort_keys=True,
    ).encode("utf-8")
    # JSON allows trailing spaces: with them the payload, and so each buffer, starts at a multiple of 64.
    header += b" " * (-(len(MAGIC) + _HEADER_LENGTH.size + len(header)) % _BUFFER_ALIGNMENT)
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


def _lay_out(payload: Payload) -> tuple[bytes, dict]:
    """The bytes of a :class:`Payload` and the header's entries that say where its buffers are:
    ``pickle_bytes``, and ``buffers`` as ``[offset, length]`` pairs from the payload's start."""
    parts, buffers, position = [payload.pickle], [], len(payload.pickle)
    for buffer in payload.buffers:
        padding = -position % _BUFFER_ALIGNMENT
        parts.append(bytes(padding))
        position += padding
        buffers.append([position, buffer.nbytes])
        parts.append(buffer)
        position += buffer.nbytes
    return b"".join(parts), {"pickle_bytes": len(payload.pickle), "buffers": buffers}


def read_model_file(path: str | Path, signing_key: bytes | None = None,
                    version: str | None = None) -> tuple[Payload, dict]:
    """Check a model file against its header, libraries and manifest, and,
    given ``version``, that it was written (and signed) as that version.

    Returns ``(payload, metadata)``, the payload a :class:`Payload` of views
    into the file's bytes, read once; it is safe to unpickle only because
    every check passed. Raises a :class:`ModelFileError` subclass
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

def _read(path: Path) -> memoryview:
    """The file's bytes, read into one buffer starting at a multiple of
    ``_BUFFER_ALIGNMENT`` in memory (the arrays of its payload are rebuilt over it)."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            buffer = bytearray(size + _BUFFER_ALIGNMENT)
            shift = -_address(buffer) % _BUFFER_ALIGNMENT
            content = memoryview(buffer)[shift:shift + size]
            read = handle.readinto(content)
            rest = handle.read()  # a file that changed size while read: what was there, as read_bytes gave
        return content if read == size and not rest else memoryview(bytes(content[:read]) + rest)
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


def _parse(path: Path, content: memoryview) -> tuple[dict, Payload]:
    retrain = f"train it again with: make train (or text_similarity_model train-file DATA.csv {path})"
    if content[:len(MAGIC)] != MAGIC:
        raise ModelFileError(f"{path}: not a palestras model file; {retrain}")
    start = len(MAGIC) + _HEADER_LENGTH.size
    if len(content) < start:
        raise ModelFileError(f"{path}: truncated model file; {retrain}")
    (header_length,) = _HEADER_LENGTH.unpack(content[len(MAGIC):start])
    try:
        header = json.loads(bytes(content[start:start + header_length]).decode("utf-8"))
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
    pickle_bytes = header.get("pickle_bytes", payload_bytes)
    return header, Payload(payload[:pickle_bytes],
                           [_aligned(payload[offset:offset + length]) for offset, length in header.get("buffers", [])])


def _address(buffer) -> int:
    return np.frombuffer(buffer, dtype=np.uint8).ctypes.data if len(buffer) else 0


def _aligned(view: memoryview):
    """``view``, or a copy of it where it is read-only or not aligned (a file
    that changed while read, one written by other means): arrays rebuilt over
    it are then writable and aligned, as unpickled ones always were."""
    return view if not view.readonly and _address(view) % _BUFFER_ALIGNMENT == 0 else bytearray(view)


def _header_problem(header) -> str | None:
    """What the header lacks, None if nothing: checked before anything of it is used."""
    if not isinstance(header, dict):
        return "not a JSON object"
    if not isinstance(header.get("metadata"), dict):
        return "no metadata"
    if type(header.get("payload_bytes")) is not int or not isinstance(header.get("payload_sha256"), str):
        return "no payload size and hash"
    size, pickle_bytes, buffers = header["payload_bytes"], header.get("pickle_bytes", 0), header.get("buffers", [])
    if type(pickle_bytes) is not int or not 0 <= pickle_bytes <= size or not isinstance(buffers, list) or not all(
            isinstance(buffer, list) and len(buffer) == 2 and all(type(number) is int for number in buffer)
            and pickle_bytes <= buffer[0] and 0 <= buffer[1] <= size - buffer[0] for buffer in buffers):
        return "buffers outside the payload"
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
