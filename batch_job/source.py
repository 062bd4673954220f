"""What ``maskalbum run`` accepts: an album folder, a single photo, or a .zip of an album.

A zip (what a phone's share sheet or a download gives) is extracted into a
temporary folder named after it, and a single photo is linked into one, so
the rest of the run sees a folder as always. The output goes beside the
original input (``trip.zip`` -> ``trip-masked/``), never into the temporary
folder, and the temporary folder is removed afterwards.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from batch_job.album import is_hidden
from batch_job.errors import UsageError
from batch_job.runner import default_output


@dataclass(frozen=True)
class AlbumInput:
    folder: Path  # what the run scans
    default_out: Path  # <name>-masked beside what the user gave
    kind: str  # folder | photo | zip


@contextlib.contextmanager
def album_input(path: Path) -> Iterator[AlbumInput]:
    if path.is_dir() or not path.exists():
        yield AlbumInput(path, default_output(path), "folder")  # a missing folder is reported by scan()
        return
    if not path.is_file():
        raise UsageError(f"not a folder, a photo or a .zip: {path}")
    kind = "zip" if zipfile.is_zipfile(path) else "photo" if _is_image(path) else None
    if kind is None:
        raise UsageError(f"{path} is not a folder, a photo or a .zip: give the folder that holds the photos")
    name = path.stem
    beside = path.resolve().with_name(name + "-masked")
    with tempfile.TemporaryDirectory(prefix="maskalbum-") as tmp:
        folder = Path(tmp) / "album" / name  # its own parent: no name in the zip can collide with it
        folder.parent.mkdir()
        if kind == "zip":
            _check_room(path, Path(tmp))
            from batch_job.cloud import safe_extract

            unpacked = safe_extract(path, Path(tmp) / "unpacked")
            # Named after the zip, whatever its folder is called: the output's zip is <name>-masked.zip.
            _single_top_folder(unpacked).rename(folder)
        else:
            folder.mkdir()
            try:
                (folder / path.name).symlink_to(path.resolve())
            except OSError:  # no symlinks here (some Windows setups): a copy
                shutil.copy2(path, folder / path.name)
        yield AlbumInput(folder, beside, kind)


def _single_top_folder(folder: Path) -> Path:
    """A zip made by "compress this folder" holds one folder: the album is that folder, as if given."""
    top = [p for p in folder.iterdir() if not is_hidden(p.name) and p.name != "__MACOSX"]
    return top[0] if len(top) == 1 and top[0].is_dir() else folder


def _check_room(archive: Path, where: Path) -> None:
    # Against the sizes the zip declares: an album too big for this disk stops here with a clear
    # message, not halfway through with a full /tmp.
    with zipfile.ZipFile(archive) as zf:
        needed = sum(m.file_size for m in zf.infolist())
    free = shutil.disk_usage(where).free
    if needed > free * 0.9:
        raise UsageError(
            f"{archive} needs {needed / 1e9:.1f} GB to extract and {where.parent} has {free / 1e9:.1f} GB free: "
            "set TMPDIR to a bigger disk, or unzip it yourself and give the folder"
        )


def _is_image(path: Path) -> bool:
    try:
        with Image.open(path):  # reads the header only
            return True
    except (UnidentifiedImageError, OSError, ValueError):
        return False
