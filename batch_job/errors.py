"""The small error hierarchy. Core code raises these; the CLI and the worker map them to exit codes."""

from __future__ import annotations


class MaskalbumError(Exception):
    """Base of every error maskalbum raises on purpose."""


class UsageError(MaskalbumError):
    """The user asked for something that cannot work (bad path, bad option)."""


class PhotoError(MaskalbumError):
    """One photo cannot be processed; it becomes a manifest row, never an album-wide failure."""


class UnsupportedFile(PhotoError):
    """The file is not a still image we edit (video, text, animation); it is skipped."""


class ImageTooLarge(PhotoError):
    """The image declares more pixels than the configured limit (decompression-bomb guard)."""


class FaceError(MaskalbumError):
    """One face cannot be fitted or painted; it becomes that face's faces.csv row, the photo goes on."""


class DetectorError(MaskalbumError):
    """The face detector failed for a reason that is not the photo's fault."""


class MaskArtError(MaskalbumError):
    """A mask template or its anchors are unusable."""


class BadMaskFile(MaskArtError, UsageError):
    """A user's --mask-file or --anchors file is unusable (a usage error, exit code 2)."""


class StorageError(MaskalbumError):
    """Reading or writing album data failed."""


class ServiceUnavailable(BaseException):  # named for what it says, like CancelledError
    """A service the detector needs stayed unavailable (throttled, unreachable, refused) after every retry.

    A BaseException on purpose, as asyncio.CancelledError is: the pipeline turns
    every ``Exception`` inside a photo into that photo's manifest row, and the
    runner's resume would then reuse the row as finished. An outage is not the
    photo's fault, so this one must pass through, stop the shard and let
    Batch's retry strategy run the shard again (finished photos are kept).
    """
