"""Decode a photo (content sniffing, limits, EXIF orientation, HEIC) and encode the result faithfully.

The decoded ``Photo`` is the detectors' ``ImageSource``: it hands out reduced
copies through JPEG ``draft()`` (DCT scaling, about 5x cheaper than a full
decode of a 12 MP photo) and decodes at full size at most once (``full()``),
when a mask is painted or a detector reads a window or a face at full
resolution. Photos that end up unchanged are copied byte for byte, never
re-encoded.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageCms, ImageOps, JpegImagePlugin

from batch_job import stages
from batch_job.errors import ImageTooLarge, PhotoError, UnsupportedFile
from batch_job.settings import Settings

# HEIC/HEIF (and AVIF where libheif has it) through pillow-heif's Pillow plugin.
try:
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a hard dependency; keep decoding the rest
    pass

# Formats written back in kind; everything else becomes JPEG (or PNG when it has transparency).
_KEEP_FORMAT = {"JPEG", "PNG", "WEBP", "TIFF", "BMP"}
_FORMAT_NAMES = {"MPO": "JPEG"}  # multi-picture JPEGs (some cameras): the first picture is the photo
_ANIMATED_FORMATS = {"GIF", "PNG", "WEBP"}  # n_frames > 1 means animation here (not for TIFF/HEIF)

_ORIENTATION_TAG = 0x0112
_OPEN_LOCK = threading.Lock()


@dataclass
class EncodeSettings:
    format: str  # Pillow format name to write
    suffix: str | None  # new file suffix when the format changes (HEIC -> ".jpg"), else None
    params: dict = field(default_factory=dict)


class Photo:
    """A still image decoded from bytes: upright view, metadata and the way to write it back."""

    def __init__(self, data: bytes, max_pixels: int = Settings.max_pixels, name: str = "") -> None:
        self.data = data
        self.name = name
        self.notes: list[str] = []
        self._max_pixels = max_pixels
        image = _open(data, max_pixels)
        self.format = _FORMAT_NAMES.get(image.format or "", image.format or "")
        self.mode = image.mode
        try:
            frames = getattr(image, "n_frames", 1)
        except Exception as exc:
            raise PhotoError(f"cannot read the frames of this {self.format or 'image'}: {exc}") from exc
        if frames > 1 and self.format in _ANIMATED_FORMATS:
            raise UnsupportedFile(f"animated {self.format} ({frames} frames): animations are left as they are")
        self.orientation = _orientation(image)
        w, h = image.size
        self._stored_size = (w, h)
        self.size: tuple[int, int] = (h, w) if self.orientation in (5, 6, 7, 8) else (w, h)
        self.info = dict(image.info)
        self._quantization = getattr(image, "quantization", None) if self.format == "JPEG" else None
        try:
            self._subsampling = JpegImagePlugin.get_sampling(image) if self.format == "JPEG" else -1
        except Exception:  # noqa: BLE001 - an odd SOF: let the encoder choose, as for a non-JPEG
            self._subsampling = -1
        self._levels: dict[int, tuple[Image.Image, float]] = {}
        self._rgb_notes: list[str] = []
        self._full: Image.Image | None = None
        # Decodes of the whole photo so far: 0 or 1 (tests and the benchmark read it).
        self.full_decodes = 0

    # -- ImageSource -------------------------------------------------------------------------
    def at_most(self, long_side: int) -> tuple[Image.Image, float]:
        """An upright RGB copy whose long side is at most ``long_side``, and its scale."""
        if long_side >= max(self.size):
            return self._upright_rgb(), 1.0
        if long_side in self._levels:
            return self._levels[long_side]
        base = self._full
        if base is None:
            base = _open(self.data, self._max_pixels)
            if base.format in ("JPEG", "MPO"):
                # draft() picks the strongest 1/2^k DCT reduction still >= the request in both sides: ask
                # for the box the copy fits in, not a square (a 4032 x 3024 photo for 800 px is
                # decoded at 1/4, 1008 x 756, not 1/2: 55 vs 87 ms; docs/QUALITY.md, issue 13).
                sw, sh = self._stored_size
                k = long_side / max(sw, sh)
                base.draft("RGB", (math.ceil(sw * k), math.ceil(sh * k)))
            if base.size == self._stored_size:
                # No reduced decode here (not a JPEG, or no 1/2^k scale fits, e.g. 2048 px of 12 MP):
                # that is the full decode, kept for painting rather than paid twice.
                base = self.full()
            else:
                with stages.timed("decode"):
                    base = _upright(_load(base), self.orientation)
        # No notes from here: a reduced copy for detection changes nothing in the output;
        # a photo that ends up copied byte for byte was converted to nothing.
        base = _to_rgb(base, None)
        k = long_side / max(self.size)
        target = (max(1, round(self.size[0] * k)), max(1, round(self.size[1] * k)))
        if base.size != target:
            base = base.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
        self._levels[long_side] = (base, k)
        return base, k

    def largest_decoded(self) -> Image.Image | None:
        """The largest upright RGB view decoded so far (a detector's level or the full photo), if any."""
        views = [image for image, _k in self._levels.values()]
        return max(views, key=lambda im: im.width * im.height) if views else None

    # -- full resolution -----------------------------------------------------------------------
    def full(self) -> Image.Image:
        """The upright image at full resolution in its own mode (decoded once)."""
        if self._full is None:
            with stages.timed("decode full"):
                image = _upright(_load(_open(self.data, self._max_pixels)), self.orientation)
            self.full_decodes += 1
            self.info = dict(image.info)  # exif_transpose rewrote EXIF/XMP without the orientation
            self._full = image
        return self._full

    def rgb(self) -> Image.Image:
        """The upright full-resolution image as RGB (cached), to paint on: its conversion goes into ``notes``."""
        image = self._upright_rgb()
        self.notes.extend(n for n in self._rgb_notes if n not in self.notes)
        return image

    def _upright_rgb(self) -> Image.Image:
        # Shared by detection (no note: a photo copied byte for byte was converted
        # to nothing) and painting (which notes what the conversion lost).
        if -1 not in self._levels:
            self._levels[-1] = (_to_rgb(self.full(), self._rgb_notes), 1.0)
        return self._levels[-1][0]

    @property
    def has_alpha(self) -> bool:
        return self.mode in ("RGBA", "LA", "PA") or (self.mode == "P" and "transparency" in self.info)

    def encode_settings(self) -> EncodeSettings:
        """How the edited photo is written: same format and quality where we can write it."""
        fmt = self.format
        params: dict = {}
        icc = self.info.get("icc_profile") if self.mode != "CMYK" else None
        if icc:
            params["icc_profile"] = icc
        exif = self._exif_bytes()
        if fmt == "JPEG":
            # Re-using the source's own quantisation tables and chroma subsampling is
            # what Pillow's quality="keep" does; it needs the original object, so pass them.
            if self._quantization:
                params["qtables"] = self._quantization
            if self._subsampling != -1:
                params["subsampling"] = self._subsampling
            if self.info.get("progressive") or self.info.get("progression"):
                params["progressive"] = True
        elif fmt == "PNG":
            params["compress_level"] = 6
        elif fmt == "WEBP":
            params.update(quality=92, method=4)
        elif fmt == "TIFF":
            compression = self.info.get("compression")
            if compression and compression != "raw":
                params["compression"] = compression
        if fmt in _KEEP_FORMAT:
            out_format, suffix = fmt, None
        elif self.has_alpha:
            out_format, suffix = "PNG", ".png"
        else:
            out_format, suffix = "JPEG", ".jpg"
            params.update(quality=92, subsampling="4:2:0")
        if exif and out_format in ("JPEG", "PNG", "WEBP", "TIFF"):
            params["exif"] = exif
        xmp = self.info.get("xmp")
        if xmp and out_format in ("JPEG", "PNG", "WEBP"):
            params["xmp"] = xmp
        if "dpi" in self.info and out_format in ("JPEG", "PNG", "TIFF"):
            params["dpi"] = self.info["dpi"]
        return EncodeSettings(out_format, suffix, params)

    def _exif_bytes(self) -> bytes | None:
        raw = self.info.get("exif")
        if not raw:
            return None
        exif = Image.Exif()
        try:
            exif.load(raw if isinstance(raw, bytes) else bytes(raw))
        except Exception:  # noqa: BLE001 - unreadable EXIF is dropped, the photo is still written
            self.notes.append("unreadable EXIF dropped")
            return None
        exif.pop(_ORIENTATION_TAG, None)  # the pixels are upright now
        return exif.tobytes()


def _open(data: bytes, max_pixels: int) -> Image.Image:
    if not data:
        raise UnsupportedFile("empty file (0 bytes)")
    with _OPEN_LOCK, warnings.catch_warnings():
        # Pillow's own bomb check (at open, against a global limit) would fire
        # first with its own wording; ours below reads only the header too,
        # uses the configured limit and says how to raise it.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise UnsupportedFile("not an image Pillow can read") from exc
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    w, h = image.size
    if w * h > max_pixels:
        raise ImageTooLarge(
            f"image declares {w}x{h} = {w * h / 1e6:.0f} MP, over the {max_pixels / 1e6:.0f} MP limit "
            "(decompression-bomb guard; raise --max-pixels to allow it)"
        )
    if w == 0 or h == 0:
        raise PhotoError(f"image declares an empty size {w}x{h}")
    return image


def _load(image: Image.Image) -> Image.Image:
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Truncated or corrupt data: Pillow says "image file is truncated" and friends.
        raise PhotoError(f"cannot decode {image.format or 'image'}: {exc}") from exc
    return image


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}  # fmt: skip


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    """The image turned upright; Pillow's exif_transpose, or our own orientation when its EXIF is unreadable."""
    try:
        ImageOps.exif_transpose(image, in_place=True)
        return image
    except Exception:  # noqa: BLE001 - fuzzing: a corrupt EXIF block raises SyntaxError from deep in Pillow
        method = _TRANSPOSE.get(orientation)
        # The unreadable EXIF stays in info: encoding drops it with a note ("unreadable EXIF dropped").
        return image.transpose(method) if method else image


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - broken EXIF means "no orientation", not a broken photo
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_rgb(image: Image.Image, notes: list[str] | None) -> Image.Image:
    """RGB for detection and compositing; records lossy conversions in ``notes``."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "CMYK":
        icc = image.info.get("icc_profile")
        if icc:
            try:
                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                dst = ImageCms.createProfile("sRGB")
                converted = ImageCms.profileToProfile(image, src, dst, outputMode="RGB")
                if converted is not None:  # None only when converting in place
                    return converted
            except (ImageCms.PyCMSError, OSError):
                pass
        if notes is not None:
            notes.append("CMYK converted to RGB")
        return image.convert("RGB")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        if notes is not None and mode.startswith("I;16"):
            notes.append("16-bit image written as 8-bit")
        return _high_depth_to_l(image).convert("RGB")
    return (
        image.convert("RGBA").convert("RGB")
        if mode in ("P", "PA", "LA", "RGBA", "La", "RGBa")
        else image.convert("RGB")
    )


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    import numpy as np

    arr = np.asarray(image, dtype=np.float64)
    top = 65535.0 if image.mode.startswith("I;16") else max(float(arr.max()), 1.0)
    if image.mode == "I" and arr.max() <= 65535:
        top = 65535.0 if arr.max() > 255 else 255.0
    return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype("uint8"), "L")


def encode(image: Image.Image, settings: EncodeSettings) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=settings.format, **settings.params)
    return buffer.getvalue()


def sniff(data: bytes) -> str | None:
    """What a non-image file is, for the manifest's reason column (None when unknown)."""
    head = data[:64]
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"hevc", b"hevx", b"avif"):
            return None  # an image container; Pillow (with pillow-heif) decides
        return "video (" + ("QuickTime" if brand == b"qt  " else "MP4/ISO media") + ")"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video (AVI)"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video (Matroska/WebM)"
    if head.startswith(b"%PDF"):
        return "PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "zip archive"
    if head.startswith((b"ID3", b"\xff\xfb", b"fLaC", b"OggS")):
        return "audio"
    try:
        data[:4096].decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return None
