"""The one exception tree of revive.

Every error the library raises is a :class:`ReviveError`; its message says what went wrong and
what the user can do about it. Shells (CLI, server, batch) turn these into a red line and an
exit code; the library itself never prints or exits.

    ReviveError
    ├── InvalidParameter          a request value is out of range or inconsistent
    ├── ImageReadError            a file cannot be read as an image
    │   └── ImageTooLarge         more pixels than the decompression-bomb limit
    ├── ImageWriteError           an output cannot be written
    │   └── OutputExists          the output exists (or is the input) and overwrite is off
    ├── ModelError
    │   ├── ModelNotFound         no model of that name, or its files are not in the store
    │   ├── UnsupportedModel      a file no runtime or architecture of revive understands
    │   ├── UnsafeModel           loading would need unrestricted unpickling or TorchScript
    │   ├── ChecksumMismatch      a file's sha256 differs from the manifest
    │   └── DownloadError         a model could not be fetched (offline, HTTP error)
    ├── RuntimeUnavailable        a runtime or device is missing (torch not installed, no GPU)
    ├── OutOfMemory               a tile did not fit; the tiling engine halves and retries
    ├── FolderBusy                another batch holds this output folder's lock
    └── Cancelled                 the caller asked to stop (checked between tiles)
"""

from __future__ import annotations


class ReviveError(Exception):
    """Base of every revive error. ``str(err)`` is a complete sentence for the user."""


class InvalidParameter(ReviveError, ValueError):
    pass


class ImageReadError(ReviveError):
    pass


class ImageTooLarge(ImageReadError):
    pass


class ImageWriteError(ReviveError):
    pass


class OutputExists(ImageWriteError):
    pass


class ModelError(ReviveError):
    pass


class ModelNotFound(ModelError, LookupError):
    pass


class UnsupportedModel(ModelError):
    pass


class UnsafeModel(ModelError):
    pass


class ChecksumMismatch(ModelError):
    pass


class DownloadError(ModelError):
    pass


class RuntimeUnavailable(ReviveError):
    pass


class OutOfMemory(ReviveError, MemoryError):
    pass


class FolderBusy(ReviveError):
    pass


class Cancelled(ReviveError):
    """The caller asked to stop; raised between tiles."""
