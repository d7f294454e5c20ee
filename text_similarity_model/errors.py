"""Errors a user can cause, each with a message naming the input and the fix."""


class PalestrasError(Exception):
    """Base class: the CLI prints the message on one line and exits with 2."""


class DataError(PalestrasError):
    """The training data can't be used (missing file, bad CSV, no talks...)."""


class ModelFileError(PalestrasError):
    """A model file can't be loaded or written (missing, not a model, corrupt...)."""


class IncompatibleModelError(ModelFileError):
    """The model was written by library versions that can't read it back."""


class TamperedModelError(ModelFileError):
    """The model file does not match its manifest (tampered, truncated, swapped)."""


class JudgedFileError(DataError):
    """A judged file (graded query-candidate pairs) can't be used: the message names the file and the fix."""
