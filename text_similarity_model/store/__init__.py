"""The model store: versions, the current one, promotion and its checks, the services that follow it."""

from .versions import ModelStore, StoredVersion, StoreBusy

__all__ = ["ModelStore", "StoreBusy", "StoredVersion"]
