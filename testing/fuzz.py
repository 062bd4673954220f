"""Fuzz one photo's whole path: mutated real photos through ingest -> decode -> detect -> fit -> encode.

A case is a photo from the sample album (or a generated oddity: a 1x10000 strip,
a zero-size PNG, absurd EXIF, a huge ICC profile), one to three mutations
(truncation, flipped bytes, spliced headers, ...), and a detector: the real
local one, or ``RandomFaces``, which answers faces anywhere, off the image,
degenerate or huge, so the geometry meets what no real photo would give it.

A *crash* is anything the album would not survive or should not show:
an exception escaping ``process_photo``, an ``internal error`` row (an
unexpected exception the pipeline caught), an output that does not decode or
has not the row's size, or a case taking longer than the time limit.

    python -m testing.fuzz --minutes 30                 # by hand: random cases, crashes saved
    python -m testing.fuzz --replay bench/fuzz-crashes  # run saved crash inputs again

Each crash is written to ``--crashes`` as ``<n>.bin`` (the input bytes) and
``<n>.json`` (seed, mutations, faces, traceback); tests/test_fuzz.py runs a
bounded slice of the same cases in the test suite.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import random
import signal
import struct
import sys
import time
import traceback
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from batch_job.detect.face import LANDMARK_NAMES, Box, Face, Point, Pose

ROOT = Path(__file__).resolve().parent.parent

ALBUM = ROOT / "examples" / "choshi_trip"


# ---------------------------------------------------------------------------------------------
# inputs


def real_photos() -> dict[str, bytes]:
    """The sample album's photos (JPEG, PNG, HEIC), whole."""
    photos = {}
    for path in sorted(ALBUM.rglob("*")):
        if path.is_file() and path.suffix.lower() in (".jpg", ".png", ".heic"):
            photos[path.relative_to(ALBUM).as_posix()] = path.read_bytes()
    return photos


def _save(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    return buffer.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def zero_size_png(width: int = 0, height: int = 10) -> bytes:
    """A PNG whose header declares a zero width (valid CRCs: only the size is absurd)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * max(width, 1)) * max(height, 1))
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def with_exif(image: Image.Image, fmt: str = "JPEG", **tags: int) -> bytes:
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[int(tag.lstrip("t"), 16) if tag.startswith("t") else int(tag)] = value
    return _save(image, fmt, exif=exif.tobytes())


def oddities(base: Image.Image) -> dict[str, bytes]:
    """Generated inputs a camera would not make, from one real photo's pixels."""
    small = base.convert("RGB").resize((320, 240))
    rng = np.random.default_rng(7)
    strip_pixels = rng.integers(0, 255, (10000, 1, 3), dtype=np.uint8)
    return {
        "strip_1x10000.png": _save(Image.fromarray(strip_pixels, "RGB"), "PNG"),
        "strip_10000x1.jpg": _save(Image.fromarray(strip_pixels.reshape(1, 10000, 3), "RGB"), "JPEG"),
        "zero_width.png": zero_size_png(0, 10),
        "zero_height.png": zero_size_png(10, 0),
        "one_pixel.gif": _save(Image.new("P", (1, 1)), "GIF"),
        # Orientation outside 1..8, and an orientation of the wrong type.
        "orientation_9.jpg": with_exif(small, t0112=9),
        "orientation_65535.jpg": with_exif(small, t0112=65535),
        "orientation_0.jpg": with_exif(small, t0112=0),
        # EXIF sizes that lie about the picture (PixelXDimension/PixelYDimension).
        "exif_sizes.jpg": with_exif(small, tA002=4_000_000_000, tA003=1),
        # A 3 MB "ICC profile" of noise (several APP2 segments).
        "huge_icc.jpg": _save(small, "JPEG", icc_profile=bytes(rng.integers(0, 255, 3 << 20, dtype=np.uint8))),
        "huge_icc.png": _save(small, "PNG", icc_profile=b"\x00" * (1 << 20)),
        "cmyk.jpg": _save(small.convert("CMYK"), "JPEG"),
        "sixteen_bit.png": _save(small.convert("L").convert("I;16"), "PNG"),
        "palette.png": _save(small.convert("P"), "PNG"),
        "la.png": _save(small.convert("LA"), "PNG"),
        "bmp.bmp": _save(small, "BMP"),
        "tiff.tif": _save(small, "TIFF", compression="tiff_lzw"),
        "webp.webp": _save(small, "WEBP"),
    }


# ---------------------------------------------------------------------------------------------
# mutations: each takes (data, rng) and returns new bytes


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(0, max(1, len(data)))]


def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.choice((1, 2, 8, 64))):
        # Headers hold the interesting fields: bias half the flips into the first 2 KB.
        limit = len(out) if rng.random() < 0.5 else min(len(out), 2048)
        i = rng.randrange(limit)
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def random_bytes(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    i = rng.randrange(len(out))
    n = rng.choice((1, 4, 16, 256))
    out[i : i + n] = bytes(rng.randrange(256) for _ in range(min(n, len(out) - i)))
    return bytes(out)


def interesting_ints(data: bytes, rng: random.Random) -> bytes:
    """Overwrite 2 or 4 bytes with 0, 1, -1, 0x7fff, 0xffff ... (sizes, lengths, offsets)."""
    if len(data) < 4:
        return data
    out = bytearray(data)
    i = rng.randrange(min(len(out) - 4, 4096) + 1)
    value = rng.choice((0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF))
    width = rng.choice((2, 4))
    out[i : i + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, rng.choice(("big", "little")))
    return bytes(out)


def delete_chunk(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 2:
        return data
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.choice((1, 16, 512, 4096)) :]


def duplicate_chunk(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 2:
        return data
    i = rng.randrange(len(data))
    n = rng.choice((4, 64, 1024))
    return data[: i + n] + data[i : i + n] + data[i + n :]


def splice(data: bytes, rng: random.Random, others: list[bytes] | None = None) -> bytes:
    """One file's header on another's body (a rename gone wrong, a mixed-up download)."""
    other = rng.choice(others) if others else data
    cut = rng.randrange(1, max(2, min(len(data), 4096)))
    return data[:cut] + other[rng.randrange(0, max(1, len(other))) :]


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "truncate": truncate,
    "flip_bytes": flip_bytes,
    "random_bytes": random_bytes,
    "interesting_ints": interesting_ints,
    "delete_chunk": delete_chunk,
    "duplicate_chunk": duplicate_chunk,
}


# ---------------------------------------------------------------------------------------------
# a detector that answers anything


@dataclass
class RandomFaces:
    """Faces anywhere: off the image, degenerate (every landmark on one point), huge, tiny, rotated.

    The fitting and painting code must survive whatever a detector (or a
    Rekognition response) could hand it; real photos never reach its corners.
    """

    rng: random.Random
    name: str = "random"
    last: list[Face] = field(default_factory=list)

    def detect(self, source) -> list[Face]:
        w, h = source.size
        self.last = [random_face(self.rng, w, h) for _ in range(self.rng.choice((0, 1, 1, 2, 3)))]
        return self.last


def random_face(rng: random.Random, w: int, h: int) -> Face:
    kind = rng.choice(("plausible", "plausible", "off_image", "degenerate", "huge", "tiny", "scattered", "collinear"))
    scale = max(w, h)
    if kind == "huge":
        size = scale * rng.uniform(2, 50)
    elif kind == "tiny":
        size = rng.uniform(0.0, 3.0)
    else:
        size = rng.uniform(24, max(25.0, min(w, h) * 1.2))
    if kind == "off_image":
        cx = rng.choice((-1, 1)) * rng.uniform(0.5, 5) * scale + w / 2
        cy = rng.uniform(-2, 3) * h
    else:
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
    roll = math.radians(rng.uniform(-180, 180))
    c, s = math.cos(roll), math.sin(roll)
    # Canonical layout (face box of 1x1 centred at 0): eyes, nose, mouth, jaw, chin.
    canonical = {
        "eyeLeft": (-0.2, -0.15), "eyeRight": (0.2, -0.15), "nose": (0.0, 0.05),
        "mouthLeft": (-0.12, 0.22), "mouthRight": (0.12, 0.22), "upperJawlineLeft": (-0.45, -0.1),
        "midJawlineLeft": (-0.38, 0.25), "chinBottom": (0.0, 0.48), "midJawlineRight": (0.38, 0.25),
        "upperJawlineRight": (0.45, -0.1),
    }  # fmt: skip
    landmarks = {}
    for name in LANDMARK_NAMES:
        u, v = canonical.get(name, (rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4)))
        if kind == "degenerate":
            u, v = 0.0, 0.0
        elif kind == "scattered":
            u, v = rng.uniform(-3, 3), rng.uniform(-3, 3)
        elif kind == "collinear":
            v = 0.0
        else:
            u, v = u + rng.gauss(0, 0.03), v + rng.gauss(0, 0.03)
        x, y = u * c - v * s, u * s + v * c
        landmarks[name] = Point(cx + x * size, cy + y * size)
    if rng.random() < 0.1:
        landmarks.pop(rng.choice(LANDMARK_NAMES))
    box = Box(cx - size / 2, cy - size / 2, size * rng.uniform(0.0, 1.3), size * rng.uniform(0.0, 1.3))
    pose = Pose(math.degrees(roll), rng.uniform(-90, 90), rng.uniform(-90, 90))
    return Face(box, rng.random(), landmarks, pose, rng.choice((None, 0.0, 1.0)))


def face_json(face: Face) -> dict:
    return {
        "box": [face.box.x, face.box.y, face.box.w, face.box.h],
        "score": face.score,
        "landmarks": {k: [p.x, p.y] for k, p in face.landmarks.items()},
        "pose": [face.pose.roll, face.pose.yaw, face.pose.pitch],
        "occluded": face.occluded,
    }


def face_from_json(data: dict) -> Face:
    return Face(
        Box(*data["box"]),
        data["score"],
        {k: Point(*v) for k, v in data["landmarks"].items()},
        Pose(*data["pose"]),
        data["occluded"],
    )


class FixedFaces:
    """Replays the faces saved with a crash."""

    name = "random"

    def __init__(self, faces: list[Face]) -> None:
        self.faces = faces

    def detect(self, source) -> list[Face]:
        return list(self.faces)


# ---------------------------------------------------------------------------------------------
# one case


class Crash(Exception):
    """The case broke a promise (see the module docstring)."""


class Hang(BaseException):
    """The case ran past the time limit."""


class _Caught(logging.Handler):
    """Keeps the traceback the pipeline logs when it turns an unexpected exception into a row."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.exc_info = None

    def emit(self, record: logging.LogRecord) -> None:
        self.exc_info = record.exc_info


def check(key: str, data: bytes, ctx) -> dict:
    """Run one input through ``process_photo``; raise Crash when a promise is broken. Returns the row."""
    from batch_job.pipeline import process_photo

    logger = logging.getLogger("batch_job.pipeline")
    caught = _Caught()
    logger.addHandler(caught)
    logger.propagate = False
    try:
        result = process_photo(key, data, ctx)
    finally:
        logger.removeHandler(caught)
    row = result.row
    if row.status == "error" and row.reason.startswith("internal error"):
        crash = Crash(f"internal error row: {row.reason}")
        if caught.exc_info:
            crash.inner = caught.exc_info[1]
        raise crash
    if row.status not in ("ok", "no_faces", "skipped", "error"):
        raise Crash(f"unknown status {row.status!r}")
    if result.output is not None:
        try:
            with Image.open(io.BytesIO(result.output)) as out:
                out.load()
                size = out.size
        except Exception as exc:
            raise Crash(f"output does not decode: {type(exc).__name__}: {exc}") from exc
        if size != (row.width, row.height):
            raise Crash(f"output is {size}, the row says {(row.width, row.height)}")
    if row.status in ("ok", "no_faces") and not row.output:
        raise Crash("an ok row without an output name")
    return {"status": row.status, "reason": row.reason, "masked": row.faces_masked}


def _alarm(signum, frame):
    raise Hang()


@dataclass
class Case:
    seed: int
    base: str
    mutations: list[str]
    detector: str


def make_case(seed: int, inputs: dict[str, bytes], detectors: list[str]) -> tuple[Case, bytes]:
    rng = random.Random(seed)
    base = rng.choice(sorted(inputs))
    data = inputs[base]
    names = []
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        name = rng.choice([*MUTATIONS, "splice"])
        data = splice(data, rng, list(inputs.values())) if name == "splice" else MUTATIONS[name](data, rng)
        names.append(name)
    return Case(seed, base, names, rng.choice(detectors)), data


def make_context(detector, settings=None):
    from batch_job.pipeline import Context
    from batch_job.settings import Settings
    from masks.catalog import load_catalog

    settings = settings or Settings(seed=1, all_faces=True, max_pixels=60_000_000)
    return Context(settings, detector, load_catalog().masks)


def run(
    seconds: float, seed: int, crashes: Path | None, detectors: list[str], per_case: int = 60, log=print
) -> tuple[int, list[dict]]:
    """Random cases for ``seconds``; returns (cases run, crashes)."""
    from batch_job.detect.local import LocalDetector

    real = real_photos()
    inputs = real | oddities(Image.open(io.BytesIO(real["day2/museum_portrait.jpg"])))
    local = LocalDetector() if "local" in detectors else None
    found: list[dict] = []
    seen: set[str] = set()
    started = time.monotonic()
    n = 0
    old = signal.signal(signal.SIGALRM, _alarm)
    warnings.simplefilter("ignore")  # Pillow warns on every corrupt EXIF; the findings are the failures
    try:
        while time.monotonic() - started < seconds:
            case, data = make_case(seed + n, inputs, detectors)
            n += 1
            random_faces = RandomFaces(random.Random(case.seed))
            ctx = make_context(local if case.detector == "local" else random_faces)
            signal.alarm(per_case)
            try:
                check(case.base, data, ctx)
            except (Exception, Hang) as exc:  # noqa: BLE001 - every failure is a finding
                inner = getattr(exc, "inner", None) or exc
                tb = "".join(traceback.format_exception(inner))
                frames = traceback.extract_tb(inner.__traceback__)
                where = (
                    f"{type(exc).__name__}@{frames[-1].filename}:{frames[-1].lineno}" if frames else type(exc).__name__
                )
                if isinstance(exc, Crash) and inner is exc:
                    where = str(exc)[:80]
                report = {
                    "case": case.__dict__, "error": f"{type(exc).__name__}: {exc}", "where": where, "traceback": tb,
                    "faces": [face_json(f) for f in random_faces.last] if case.detector == "random" else None,
                }  # fmt: skip
                found.append(report)
                if where not in seen:
                    seen.add(where)
                    log(
                        f"CRASH #{len(found)} seed={case.seed} {case.base} {case.mutations} {case.detector}: "
                        f"{report['error'][:300]}"
                    )
                if crashes:
                    crashes.mkdir(parents=True, exist_ok=True)
                    (crashes / f"{case.seed}.bin").write_bytes(data)
                    (crashes / f"{case.seed}.json").write_text(json.dumps(report, indent=1))
            finally:
                signal.alarm(0)
            if n % 200 == 0:
                log(f"{n} cases, {len(found)} crashes ({len(seen)} distinct), {time.monotonic() - started:.0f} s")
    finally:
        signal.signal(signal.SIGALRM, old)
    return n, found


def replay(folder: Path) -> int:
    from batch_job.detect.local import LocalDetector

    failures = 0
    local = None
    for meta_path in sorted(folder.glob("*.json")):
        meta = json.loads(meta_path.read_text())
        data = meta_path.with_suffix(".bin").read_bytes()
        if meta["faces"] is not None:
            detector = FixedFaces([face_from_json(f) for f in meta["faces"]])
        else:
            local = local or LocalDetector()
            detector = local
        try:
            check(meta["case"]["base"], data, make_context(detector))
            print(f"fixed   {meta_path.name}: {meta['error'][:120]}")
        except Exception as exc:  # noqa: BLE001
            failures += 1
            print(f"FAILS   {meta_path.name}: {type(exc).__name__}: {exc}"[:300])
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--detector", choices=("both", "local", "random"), default="both")
    parser.add_argument("--crashes", type=Path, default=ROOT / "bench" / "fuzz-crashes")
    parser.add_argument("--replay", type=Path)
    args = parser.parse_args()
    if args.replay:
        return 1 if replay(args.replay) else 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    detectors = ["local", "random", "random"] if args.detector == "both" else [args.detector]
    started = time.monotonic()
    print(f"fuzz: seed {args.seed}, {args.minutes} min, detectors {sorted(set(detectors))}", flush=True)
    n, found = run(args.minutes * 60, args.seed, args.crashes, detectors, log=lambda m: print(m, flush=True))
    distinct = len({f["where"] for f in found})
    print(
        f"fuzz: {n} cases in {time.monotonic() - started:.0f} s, {len(found)} crashes ({distinct} distinct)", flush=True
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
