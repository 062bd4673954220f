"""The Detector protocol, the image source it reads from, and the registry of detectors by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from PIL import Image

from batch_job.errors import UsageError

if TYPE_CHECKING:
    from batch_job.detect.face import Face
    from batch_job.settings import Settings


# The one reduced copy of a photo that several stages read: the local detector
# surveys it and crops FaceMesh input from it, and the wearing check judges
# faces on it. An ImageSource caches each size it is asked for, so they share
# one decode only because they ask for the same size: this one.
SURVEY_LONG_SIDE = 800


class ImageSource(Protocol):
    """An upright photo that can hand out reduced copies cheaply.

    ``size`` is the full upright size. ``at_most(n)`` returns an RGB image whose
    long side is at most ``n`` (the full image if it is already smaller) and its
    scale relative to the full image (<= 1). Implementations decode lazily, so a
    detector that only needs 800 px never pays for a 12 MP decode.
    """

    @property
    def size(self) -> tuple[int, int]: ...

    def at_most(self, long_side: int) -> tuple[Image.Image, float]: ...


class Detector(Protocol):
    """Finds faces; coordinates in pixels of the full upright image."""

    name: str

    def detect(self, source: ImageSource) -> list[Face]: ...


DetectorFactory = Callable[["Settings"], Detector]
_REGISTRY: dict[str, DetectorFactory] = {}


def register(name: str) -> Callable[[DetectorFactory], DetectorFactory]:
    def decorate(factory: DetectorFactory) -> DetectorFactory:
        _REGISTRY[name] = factory
        return factory

    return decorate


def detector_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def detector_factory(name: str) -> DetectorFactory:
    """The factory for ``name`` (cheap: loads no model), or a UsageError listing the valid names."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown detector {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}") from None


def create_detector(name: str, settings: Settings) -> Detector:
    return detector_factory(name)(settings)


def _load_builtin() -> None:
    # Imported here, not at module top, so that listing detectors does not load
    # onnxruntime or boto3 until one is actually chosen.
    from batch_job.detect import local, rekognition  # noqa: F401
