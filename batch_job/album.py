"""Find the files of an album, name their outputs, hash them.

Every regular file under the album becomes an ``Entry`` (and so a manifest
row), except hidden and system files, which are not the user's photos.
Whether a file is a photo is decided later from its content, not its suffix.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from batch_job.errors import UsageError

SYSTEM_FILES = {".ds_store", "thumbs.db", "desktop.ini", "icon\r", ".localized"}
IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".jpe", ".png", ".webp", ".heic", ".heif", ".hif", ".avif",
    ".tif", ".tiff", ".gif", ".bmp", ".mpo",
}  # fmt: skip
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One file of the album.

    ``key`` names it everywhere after the scan (manifest ``path``, records, S3
    keys): POSIX, valid UTF-8, NFC when that is unique, and unique in the album.
    ``source`` is the exact relative path on disk (a str with surrogate escapes
    for bytes that are not UTF-8); it differs from ``key`` only for macOS (NFD)
    names and names in other encodings. ``skip`` is the reason for a row that is
    not a file to read: a second link to a folder already included (status
    ``skipped``), a folder that cannot be listed (``skip_status`` ``error``).
    """

    key: str
    size: int
    source: str = ""
    note: str = ""
    skip: str = ""
    skip_status: str = "skipped"

    @property
    def path(self) -> str:
        return self.source or self.key


def is_hidden(name: str) -> bool:
    lower = name.lower()
    return name.startswith(".") or lower in SYSTEM_FILES or name.startswith("._")


def scan(album: Path, exclude: Path | None = None) -> list[Entry]:
    """All candidate files under ``album``, sorted by key, hidden/system files left out.

    Linked folders are followed once: a link to a folder already walked (a loop,
    or two links to one folder) becomes an entry with ``skip`` set, so it still
    gets a row. ``exclude`` (the output folder) is never walked.
    """
    if not album.exists():
        raise UsageError(f"album folder not found: {album}")
    if not album.is_dir():
        raise UsageError(f"not a folder: {album} (give the folder that holds the photos)")
    found: list[tuple[str, int, str]] = []  # (relative source path, size, skip reason)
    # The album's own folders first, so that a link is the duplicate, never the real folder.
    walked: dict[tuple[int, int], str] = {}
    for root, dirs, _files in os.walk(album, followlinks=False):
        dirs[:] = [d for d in dirs if not is_hidden(d)]
        st = os.stat(root)
        walked[(st.st_dev, st.st_ino)] = os.path.normpath(os.path.relpath(root, album))
    skip_real = os.path.realpath(exclude) if exclude is not None else None

    def unreadable(exc: OSError) -> None:
        # A folder that cannot be listed (permissions) still gets a row: an error, with the reason.
        if exc.filename and os.path.realpath(exc.filename) != os.path.realpath(album):
            rel = os.path.normpath(os.path.relpath(exc.filename, album))
            found.append((rel, -1, _FAILED + f"cannot list this folder: {exc.strerror}"))

    for root, dirs, files in os.walk(album, followlinks=True, onerror=unreadable):
        rel_root = os.path.relpath(root, album)
        kept = []
        for d in sorted(d for d in dirs if not is_hidden(d)):
            full = os.path.join(root, d)
            rel = os.path.normpath(os.path.join(rel_root, d))
            try:
                st = os.stat(full)
            except OSError:
                continue  # gone since it was listed (a dangling link is listed with the files)
            real = os.path.realpath(full)
            if not os.path.islink(full):
                walked.setdefault((st.st_dev, st.st_ino), rel)
                kept.append(d)
            elif skip_real and (real == skip_real or real.startswith(skip_real + os.sep)):
                found.append((rel, -1, "link to the output folder: not part of the album"))
            elif (st.st_dev, st.st_ino) in walked:
                found.append((rel, -1, f"link to a folder already included ({_text(walked[(st.st_dev, st.st_ino)])})"))
            else:
                walked[(st.st_dev, st.st_ino)] = rel  # followed once: a second link to it, or a loop, is a row
                kept.append(d)
        dirs[:] = kept
        for name in files:
            if is_hidden(name):
                continue
            path = os.path.join(root, name)
            try:
                size = os.stat(path).st_size
            except OSError:
                size = -1  # dangling link or vanished file: still a row, with its error later
            found.append((os.path.normpath(os.path.join(rel_root, name)), size, ""))
    return name_entries(found)


_FAILED = "\0error:"  # marks a scan-time reason that is an error row, not a skipped one


def name_entries(found: Iterable[tuple[str, int, str]]) -> list[Entry]:
    """Entries with unique text keys for relative source paths (see ``Entry``)."""
    found = [(_posix(rel), size, skip) for rel, size, skip in found]
    readable = {rel: readable_key(rel) for rel, _, _ in found}
    count: dict[str, int] = {}
    for text, _ in readable.values():
        count[text] = count.get(text, 0) + 1
    entries = []
    taken = set()
    # Twins (an NFC and an NFD spelling, a guessed decoding equal to a real name):
    # the one whose text is its exact name keeps it; the others keep their exact
    # spelling (NFD text) or, for bytes that are not UTF-8, a \xNN form.
    order = sorted(found, key=lambda f: (readable[f[0]][0] != f[0], f[0]))
    for rel, size, skip in order:
        text, note = readable[rel]
        if count[text] > 1 and text in taken:
            text = _escaped(rel)
            note = note or "same name as another file once normalised (NFC); listed by its exact spelling"
            n = 2
            base = text
            while text in taken:
                text, n = f"{base} ({n})", n + 1
        taken.add(text)
        failed = skip.startswith(_FAILED)
        reason = skip.removeprefix(_FAILED)
        entries.append(Entry(text, size, rel if rel != text else "", note, reason, "error" if failed else "skipped"))
    entries.sort(key=lambda e: e.key)
    return entries


def _posix(rel: str) -> str:
    parts = [p for p in rel.replace(os.sep, "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UsageError(f"path escapes the album: {_text(rel)}")
    return "/".join(parts)


def _escaped(rel: str) -> str:
    """Valid UTF-8 text for any name: bytes that are not UTF-8 written as \\xNN (exact, reversible)."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _text(rel: str) -> str:
    return readable_key(rel)[0]


def readable_key(rel: str) -> tuple[str, str]:
    """(text for a relative path, note). UTF-8 names: NFC. Other bytes: a guessed decoding, said in the note.

    Names that are not UTF-8 are mostly Shift-JIS (cp932) from old Windows zips
    in Japan, or Latin-1/cp1252 from old European ones. The guess is only for
    reading; the file is read by its exact bytes.
    """
    raw = rel.encode("utf-8", "surrogateescape")
    try:
        return unicodedata.normalize("NFC", raw.decode("utf-8")), ""
    except UnicodeDecodeError:
        pass
    shown = raw.decode("utf-8", "backslashreplace")
    for encoding, label in (("cp932", "Shift-JIS"), ("cp1252", "Windows-1252")):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "cp932" and not _plausibly_japanese(text):
            continue
        if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
            continue
        return unicodedata.normalize("NFC", text), f"file name is not UTF-8 ({shown}); read as {label}"
    return shown, "file name is not UTF-8; bytes that are not shown as \\xNN"


def _plausibly_japanese(text: str) -> bool:
    # Latin-1 bytes decode as cp932 too, into half-width katakana and stray kanji:
    # require full-width Japanese and no half-width katakana.
    if any("\uff61" <= c <= "\uff9f" for c in text):
        return False
    return any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in text)


def key_for(relative: Path | PurePosixPath | str) -> str:
    """A storage key from a relative path: POSIX separators, NFC Unicode, no '..' or absolute parts."""
    parts = [p for p in PurePosixPath(str(relative).replace("\\", "/")).parts if p not in ("", ".", "/")]
    if any(p == ".." for p in parts):
        raise UsageError(f"path escapes the album: {relative}")
    # macOS hands out NFD names; S3 keys and zip members should be NFC so the
    # same album uploads to the same keys from any machine.
    return unicodedata.normalize("NFC", "/".join(parts))


def shared_stems(keys: Iterable[str]) -> frozenset[str]:
    """Lower-cased key stems that more than one file shares (``IMG_1.heic`` and ``IMG_1.jpg``)."""
    seen: set[str] = set()
    shared: set[str] = set()
    for key in keys:
        stem = str(PurePosixPath(key).with_suffix("")).lower()
        (shared if stem in seen else seen).add(stem)
    return frozenset(shared)


def output_key(key: str, suffix: str, shared: frozenset[str]) -> str:
    """Where an edited photo goes when its format changes the suffix (HEIC -> .jpg).

    Decided from the album's names alone, so parallel workers agree without
    talking: when another file shares the stem, the old suffix stays in front
    (``IMG_1.heic`` -> ``IMG_1.heic.jpg``) and nothing is overwritten.
    """
    path = PurePosixPath(key)
    if path.suffix.lower() == suffix or (suffix == ".jpg" and path.suffix.lower() in (".jpeg", ".jpe")):
        return key
    if str(path.with_suffix("")).lower() in shared:
        return key + suffix
    return str(path.with_suffix(suffix))


def fold(name: str) -> str:
    """Two names that fold alike are one file on macOS (case, NFC/NFD) or Windows (case, trailing dots/spaces)."""
    parts = unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold()).split("/")
    return "/".join(p.rstrip(". ") or p for p in parts)


_NOT_ON_WINDOWS = set('\\:*?"<>|')
# Device names Windows will not create as a file or folder, whatever the extension ("CON.jpg",
# "aux.tar.png"): such a file in an extracted zip is silently lost there.
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul"} | {f"{p}{n}" for p in ("com", "lpt") for n in "123456789"}


def _safe(key: str) -> str:
    # Control characters (a newline in a name) and \ : * ? " < > | are legal on
    # Linux only; a zip with them loses files when extracted on Windows.
    clean = unicodedata.normalize(
        "NFC", "".join("_" if c in _NOT_ON_WINDOWS or unicodedata.category(c) == "Cc" else c for c in key)
    )
    return "/".join(
        "_" + p if p.split(".")[0].rstrip(" ").casefold() in _WINDOWS_DEVICES else p for p in clean.split("/")
    )


def _numbered(name: str, n: int, suffix: str | None = None) -> str:
    path = PurePosixPath(name)
    suffix = path.suffix if suffix is None else suffix
    stem = name[: len(name) - len(path.suffix)] if path.suffix else name
    return f"{stem} ({n}){suffix}"


_SAME_SUFFIX = {".jpg": (".jpg", ".jpeg", ".jpe"), ".png": (".png",)}


class OutputNames:
    """Where each file's output goes under images/: unique on any file system, by construction.

    Decided from the album's keys alone, so parallel workers and Batch shards
    agree without talking. Every file is given its own name (its key, made
    safe) and, up front, the names it would get if its format changes (HEIC
    -> .jpg, transparency -> .png): ``IMG.HEIC`` -> ``IMG.jpg``, or
    ``IMG.HEIC.jpg`` when ``IMG.jpg`` is in the album, or ``IMG (2).jpg``
    when that is taken too. Names are compared folded (``fold``), so an album
    copied to macOS or Windows, where ``a.jpg`` and ``A.JPG`` are one file,
    loses nothing either. Own names come first, then the conversions, each
    pass in key order with NFC keys before their NFD twins.
    """

    def __init__(self, keys: Iterable[str]) -> None:
        order = sorted(set(keys), key=lambda k: (unicodedata.normalize("NFC", k) != k, k))
        self.same: dict[str, str] = {}
        self.converted: dict[tuple[str, str], str] = {}
        self._owners: dict[str, str] = {}  # folded name -> the key it is reserved for
        taken = self._owners
        folders = {fold(str(parent)) for k in order for parent in PurePosixPath(_safe(k)).parents if str(parent) != "."}

        def claim(key: str, candidates: Iterable[str]) -> str:
            for name in candidates:
                folded = fold(name)
                if folded not in taken and folded not in folders:
                    taken[folded] = key
                    return name
            raise AssertionError("unreachable: numbered names never run out")  # pragma: no cover

        for key in order:
            safe = _safe(key)
            self.same[key] = claim(key, itertools.chain([safe], (_numbered(safe, n) for n in itertools.count(2))))
        for key in order:
            own = self.same[key]
            path = PurePosixPath(own)
            stem = own[: len(own) - len(path.suffix)] if path.suffix else own
            for suffix, same in _SAME_SUFFIX.items():
                if path.suffix.lower() in same:
                    self.converted[(key, suffix)] = own
                    continue
                self.converted[(key, suffix)] = claim(
                    key,
                    itertools.chain(
                        [stem + suffix, own + suffix], (_numbered(stem, n, suffix) for n in itertools.count(2))
                    ),
                )

    def owner(self, name: str) -> str | None:
        """The key ``name`` is reserved for, or None."""
        return self._owners.get(fold(name))

    def output_for(self, key: str, logical: str) -> str:
        """The output name for ``key``, given what the pipeline would call it (``key`` or key with a new suffix)."""
        if not logical:
            return ""
        if key not in self.same:
            return logical  # a key from outside the plan (a single photo): nothing to collide with
        if logical == key:
            return self.same[key]
        suffix = PurePosixPath(logical).suffix.lower()
        return self.converted.get((key, suffix)) or self.same[key] + suffix


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
