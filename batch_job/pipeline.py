"""One photo through the stages: ingest -> detect -> decide -> fit + composite -> encode -> record.

``process_photo`` takes bytes and returns bytes plus rows: no file or network
I/O, so the local run, the Batch worker and the LINE bot share it unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

from batch_job import stages
from batch_job.album import IMAGE_SUFFIXES, output_key
from batch_job.detect.base import Detector
from batch_job.detect.face import Face
from batch_job.errors import ImageTooLarge, PhotoError, UnsupportedFile
from batch_job.fit import face_to_fit, fit_problem
from batch_job.gallery import GREY_MODES, THUMB_PX, Thumbs, thumb_jpeg, thumb_patched, thumb_pixels, thumbnail
from batch_job.imaging import Photo, encode, sniff
from batch_job.paint import Painted, PaintJob, paint
from batch_job.settings import Settings
from batch_job.wearing import assess, view
from masks.catalog import MaskTemplate, pick

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceRow:
    """One row of faces.csv."""

    image: str
    face: int
    x: int
    y: int
    w: int
    h: int
    score: float
    wearing_mask: bool
    mask_score: float
    action: str  # replaced | left_bare | too_small | not_fitted
    mask: str
    roll: float
    yaw: float
    pitch: float
    reason: str = ""  # why a face was not replaced when that is not plain (not_fitted, too_small)


@dataclass(frozen=True)
class PhotoRow:
    """One row of manifest.csv."""

    path: str
    output: str
    sha256: str
    bytes: int
    width: int
    height: int
    status: str  # ok | no_faces | skipped | error
    reason: str
    notes: str
    faces_found: int
    faces_masked: int
    masks: str
    detector: str
    ms: int


MANIFEST_COLUMNS = list(PhotoRow.__dataclass_fields__)
FACES_COLUMNS = list(FaceRow.__dataclass_fields__)


@dataclass
class PhotoResult:
    row: PhotoRow
    faces: list[FaceRow] = field(default_factory=list)
    # The bytes to write at images/<row.output>; None with copy_source=True
    # means "the photo is unchanged: copy the original byte for byte".
    output: bytes | None = None
    copy_source: bool = False
    painted: list[Painted] = field(default_factory=list)  # only with keep_alpha (benchmarks)
    thumbs: Thumbs | None = None  # the gallery's small JPEGs, with Context.thumbs

    def to_json(self) -> dict:
        return {"row": asdict(self.row), "faces": [asdict(f) for f in self.faces]}


@dataclass(frozen=True)
class Context:
    """Everything a worker loads once and reuses for every photo."""

    settings: Settings
    detector: Detector
    pool: tuple[MaskTemplate, ...]
    shared_stems: frozenset[str] = frozenset()
    thumbs: bool = False  # make gallery thumbnails (the album run; not the LINE bot)


def _classify_unsupported(key: str, data: bytes, exc: Exception) -> tuple[str, str]:
    """(status, reason) for a file that is not a photo we edit."""
    suffix = PurePosixPath(key).suffix.lower()
    what = sniff(data) if data else None
    if isinstance(exc, UnsupportedFile) and str(exc).startswith("animated"):
        return "skipped", str(exc)
    if not data:
        reason = "empty file (0 bytes)"
    elif what:
        reason = f"not an image: {what}"
    else:
        reason = "not an image format maskalbum reads (JPEG, PNG, WebP, HEIC/HEIF, AVIF, TIFF, GIF, BMP)"
    if suffix in IMAGE_SUFFIXES:
        # Named like a photo but is not one: the user expects a photo here, so say it failed.
        return "error", f"{reason} (named {suffix})"
    return "skipped", reason


def process_photo(key: str, data: bytes, ctx: Context, keep_alpha: bool = False) -> PhotoResult:
    """Run one photo through every stage. Never raises for a bad photo: it becomes the row's reason."""
    started = time.perf_counter()
    sha = hashlib.sha256(data).hexdigest()
    settings = ctx.settings

    def row(status: str, reason: str = "", **kw) -> PhotoRow:
        base: dict[str, Any] = dict(
            path=key, output="", sha256=sha, bytes=len(data), width=0, height=0, status=status, reason=reason,
            notes="", faces_found=0, faces_masked=0, masks="", detector=ctx.detector.name,
            ms=int((time.perf_counter() - started) * 1000),
        )  # fmt: skip
        base.update(kw)
        return PhotoRow(**base)

    try:
        with stages.timed("decode"):  # the header; pixels are decoded lazily, at the size asked
            photo = Photo(data, max_pixels=settings.max_pixels, name=key)
    except ImageTooLarge as exc:
        return PhotoResult(row("error", str(exc)))
    except UnsupportedFile as exc:
        status, reason = _classify_unsupported(key, data, exc)
        return PhotoResult(row(status, reason))
    except PhotoError as exc:
        return PhotoResult(row("error", str(exc)))

    width, height = photo.size
    try:
        with stages.timed("detect"):  # what the detector's own marks (survey, windows, landmarks) leave
            faces = ctx.detector.detect(photo)
        faces = sorted(faces, key=lambda f: (f.box.y, f.box.x))  # stable, readable face indices
        decisions = [_decide(i, face, photo, ctx, sha) for i, face in enumerate(faces)]
        notes = "; ".join(dict.fromkeys(photo.notes))
        if not faces:
            return PhotoResult(
                row("no_faces", output=key, width=width, height=height, notes=notes), [], copy_source=True,
                thumbs=_unchanged_thumbs(photo, ctx),
            )  # fmt: skip
        painted: list[Painted] = []
        thumbs = None
        if any(d.job is not None for d in decisions):
            output, out_key, painted, thumbs = _render(photo, decisions, key, ctx, keep_alpha)
        jobs = [d.job for d in decisions if d.job is not None]
        face_rows = [d.row(key) for d in decisions]
        if not jobs:
            # Nothing was painted (nothing to replace, or every fit failed): the photo is unchanged.
            return PhotoResult(
                row("ok", output=key, width=width, height=height, notes=notes, faces_found=len(faces)),
                face_rows,
                copy_source=True,
                thumbs=_unchanged_thumbs(photo, ctx),
            )
        notes = "; ".join(dict.fromkeys(photo.notes))
        masks_used = sorted({j.template.name for j in jobs})
        return PhotoResult(
            row(
                "ok",
                output=out_key,
                width=width,
                height=height,
                notes=notes,
                faces_found=len(faces),
                faces_masked=len(jobs),
                masks=";".join(masks_used),
            ),  # fmt: skip
            face_rows,
            output=output,
            painted=painted,
            thumbs=thumbs,
        )
    except PhotoError as exc:
        return PhotoResult(row("error", str(exc), width=width, height=height))
    except MemoryError:
        return PhotoResult(
            row("error", "out of memory on this photo (lower --workers or --max-pixels)", width=width, height=height)
        )
    except Exception as exc:  # one photo's bug must not take the album down; logged in full
        log.exception("unexpected failure on %s", key)
        return PhotoResult(row("error", f"internal error: {type(exc).__name__}: {exc}", width=width, height=height))


@dataclass
class _Decision:
    index: int
    face: Face
    wearing: bool
    score: float
    action: str
    job: PaintJob | None
    reason: str = ""

    def row(self, key: str) -> FaceRow:
        b = self.face.box
        return FaceRow(
            image=key, face=self.index, x=round(b.x), y=round(b.y), w=round(b.w), h=round(b.h),
            score=round(self.face.score, 4), wearing_mask=self.wearing, mask_score=round(self.score, 4),
            action=self.action, mask=self.job.template.name if self.job else "",
            roll=round(self.face.pose.roll, 1), yaw=round(self.face.pose.yaw, 1), pitch=round(self.face.pose.pitch, 1),
            reason=self.reason,
        )  # fmt: skip


def _decide(index: int, face: Face, photo: Photo, ctx: Context, sha: str) -> _Decision:
    """What to do with one face. A failure here is this face's row, never the photo's."""
    try:
        with stages.timed("wearing"):
            wearing = assess(*view(photo, face), face)
    except Exception as exc:  # one face's wearing check must not lose the photo; logged in full
        log.exception("wearing check failed on face %d", index)
        return _Decision(
            index, face, False, 0.0, "not_fitted", None, f"wearing check failed: {type(exc).__name__}: {exc}"
        )
    settings = ctx.settings
    if face.box.w < settings.min_face_px:
        return _Decision(
            index, face, wearing.masked, wearing.score, "too_small", None, f"under {settings.min_face_px} px wide"
        )
    if not (wearing.masked or settings.all_faces):
        return _Decision(index, face, wearing.masked, wearing.score, "left_bare", None)
    with stages.timed("fit"):
        problem = fit_problem(face_to_fit(face))
    if problem:
        return _Decision(index, face, wearing.masked, wearing.score, "not_fitted", None, problem)
    template = pick(ctx.pool, settings.seed, sha, index)
    seed = int.from_bytes(hashlib.sha256(f"{settings.seed}:{sha}:{index}:grain".encode()).digest()[:8], "big")
    job = PaintJob(face, template, seed, wears_mask=wearing.masked)
    return _Decision(index, face, wearing.masked, wearing.score, "replaced", job)


def _render(photo: Photo, decisions: list[_Decision], key: str, ctx: Context, keep_alpha: bool):
    """Paint every decided job; a face whose fit or paint fails becomes ``not_fitted`` (decisions are updated)."""
    full = photo.full()
    mode = full.mode
    # Painted in place: the decoded photo is ours alone, and a copy of 12 MP costs ~60 ms.
    result = photo.rgb()
    with stages.timed("thumbs"):
        before = thumb_pixels(result) if ctx.thumbs else None  # taken first: paint() works in place
    chosen = [d for d in decisions if d.job is not None]
    with stages.timed("paint"):
        outcomes = paint(result, [d.job for d in chosen if d.job is not None], keep_alpha=keep_alpha)
    painted = []
    for decision, outcome in zip(chosen, outcomes, strict=True):
        if outcome.error:
            decision.action, decision.job, decision.reason = "not_fitted", None, outcome.error
        else:
            painted.append(outcome)
    thumbs = None
    if before is not None:
        with stages.timed("thumbs"):
            # The after thumbnail is the before one with the painted windows reduced again: the rest
            # of the photo is unchanged (a second reduce of 12 MP was half of the thumbnails' time).
            after = thumb_patched(before, result, [p.box for p in outcomes])
            if after is None:  # a photo under 1,536 px: its thumbnail is resized, not a whole reduce
                after = thumb_pixels(result)
            grey = mode in GREY_MODES  # the photo is written black and white: so is its thumbnail
            thumbs = Thumbs(thumb_jpeg(after, grey), thumb_jpeg(before))
    if mode in GREY_MODES:
        # A black-and-white photo gets a black-and-white mask.
        result = result.convert("L")
    settings = photo.encode_settings()
    if photo.has_alpha and settings.format in ("PNG", "WEBP", "TIFF"):
        alpha = full.convert("RGBA").getchannel("A")
        result = result.convert("RGBA")
        result.putalpha(alpha)
    out_key = key if settings.suffix is None else output_key(key, settings.suffix, ctx.shared_stems)
    with stages.timed("encode"):
        output = encode(result, settings)
    return output, out_key, painted, thumbs


def _unchanged_thumbs(photo: Photo, ctx: Context) -> Thumbs | None:
    if not ctx.thumbs:
        return None
    # The largest view the detector already decoded (at least its 800 px survey): a second decode at
    # 1024 px cost a quarter of a 12 MP no-faces photo's time; 800 px is enough for the viewer.
    with stages.timed("thumbs"):
        base = photo.largest_decoded() or photo.at_most(THUMB_PX)[0]
        return Thumbs(thumbnail(base, grey=photo.mode in GREY_MODES))
