"""The album level: run photos in parallel with resume, write a shard's rows, finalize (CSV + zip).

The same functions serve the local run (one shard: the whole album, in a
process pool on this machine) and the Batch job (one shard per array child,
then a finalize job). Storage is passed in as URLs so worker processes can
open their own clients.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import io
import json
import logging
import multiprocessing
import os
import signal
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from batch_job import stages
from batch_job.album import Entry, OutputNames, scan
from batch_job.detect.base import create_detector, detector_factory
from batch_job.errors import MaskalbumError, StorageError, UsageError
from batch_job.gallery import THUMBS, thumb_files, thumb_keys, write_gallery
from batch_job.lock import hold
from batch_job.pipeline import FACES_COLUMNS, MANIFEST_COLUMNS, Context, PhotoResult, PhotoRow, process_photo
from batch_job.settings import Settings
from batch_job.storage import LocalStorage, Storage, open_storage
from masks.catalog import MaskTemplate, load_catalog, load_user_mask

log = logging.getLogger(__name__)

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member dates: the same album gives the same zip members
STORED_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".avif", ".gif"}  # already compressed


@dataclass(frozen=True)
class Layout:
    """Keys inside the destination storage."""

    images: str = "images/"
    manifest: str = "manifest.csv"
    faces: str = "faces.csv"
    zip: str = "album.zip"
    records: str = ".maskalbum/records/"
    shards: str = ".maskalbum/shards/"
    root: str = ""  # the folder holding images/: the gallery (index.html, thumbs/) goes there

    def record_key(self, key: str) -> str:
        return self.records + hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest() + ".json"

    def shard_key(self, index: int, kind: str = "manifest") -> str:
        return f"{self.shards}{index:05d}.csv" if kind == "manifest" else f"{self.shards}{index:05d}-faces.csv"


def local_layout(album_name: str) -> Layout:
    return Layout(zip=f"{album_name}-masked.zip")


# The album's layout on S3 is batch_job.s3layout.S3_LAYOUT.


@dataclass(frozen=True)
class WorkSpec:
    """What a worker process needs to build its own context (picklable)."""

    source_url: str
    dest_url: str
    layout: Layout
    settings: Settings
    shared: frozenset[str]
    # Output names decided for the whole album (None: the pipeline's own names).
    names: OutputNames | None = None
    # key -> exact relative path, where they differ (NFD names, names not in UTF-8).
    sources: dict[str, str] = field(default_factory=dict)
    name_notes: dict[str, str] = field(default_factory=dict)


def build_pool(settings: Settings) -> tuple[MaskTemplate, ...]:
    if settings.mask_file:
        anchors = Path(settings.anchors_file) if settings.anchors_file else None
        return (load_user_mask(Path(settings.mask_file), anchors),)
    return load_catalog().choose_pool(settings.masks, settings.tags)


def output_fingerprint(settings: Settings) -> str:
    """Changes when anything that decides output pixels changes (settings or mask art)."""
    pool = build_pool(settings)
    from batch_job import __version__

    return settings.fingerprint({"masks": ",".join(m.digest for m in pool), "version": __version__})


class _Worker:
    def __init__(self, spec: WorkSpec) -> None:
        self.spec = spec
        self.source = open_storage(spec.source_url)
        self.dest = open_storage(spec.dest_url)
        self.fingerprint = output_fingerprint(spec.settings)
        self.ctx = Context(
            settings=spec.settings,
            detector=create_detector(spec.settings.detector, spec.settings),
            pool=build_pool(spec.settings),
            shared_stems=spec.shared,
            thumbs=True,
        )

    def handle(self, key: str) -> tuple[dict, bool]:
        """Process one photo (or reuse a finished one); returns (record, resumed)."""
        layout = self.spec.layout
        try:
            data = self.source.read(self.spec.sources.get(key, key))
        except StorageError as exc:
            # The message names the exact path, which may hold bytes that are not UTF-8 (the CSV is UTF-8).
            reason = str(exc).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            result = PhotoResult(_unreadable_row(key, reason, self.ctx.detector.name))
            return result.to_json(), False
        sha = hashlib.sha256(data).hexdigest()
        record_key = layout.record_key(key)
        previous = self._previous(record_key)
        if previous and previous.get("sha256") == sha and previous.get("fingerprint") == self.fingerprint:
            out = previous["record"]["row"]["output"]
            # Another file added or removed can move this one's output name: then it is written again.
            planned = self._output_name(key, previous.get("logical", out))
            if out == planned and (not out or self.dest.size(layout.images + out) == previous.get("output_bytes")):
                return previous["record"], True
        try:
            result = process_photo(key, data, self.ctx)
        except Exception as exc:
            log.exception("unexpected failure on %s", key)
            row = replace(
                _unreadable_row(key, f"internal error: {type(exc).__name__}: {exc}", self.ctx.detector.name),
                sha256=sha,
                bytes=len(data),
            )
            return PhotoResult(row).to_json(), False
        logical = result.row.output
        note = "; ".join(n for n in (result.row.notes, self.spec.name_notes.get(key, "")) if n)
        result.row = replace(result.row, output=self._output_name(key, logical), notes=note)
        out = result.row.output
        if previous:
            old = previous["record"]["row"].get("output")
            # A rerun with other settings renamed it; but a name that now belongs to
            # another file (added since) is that file's to write, never to delete.
            if old and old != out and (self.spec.names is None or self.spec.names.owner(old) in (None, key)):
                self.dest.delete(layout.images + old)
        size = None
        with stages.timed("write"):
            if out:
                payload = result.output if result.output is not None else data
                self.dest.write(layout.images + out, payload, _content_type(out))
                size = len(payload)
                for thumb_key, blob in thumb_files(out, result.thumbs, layout.root + THUMBS):
                    self.dest.write(thumb_key, blob, "image/jpeg")
            record = result.to_json()
            # Written after the image: a record on disk means its image is complete.
            self._write_record(record_key, sha, size, logical, record)
        return record, False

    def _write_record(self, record_key: str, sha: str, size: int | None, logical: str, record: dict) -> None:
        self.dest.write(
            record_key,
            json.dumps(
                {
                    "sha256": sha,
                    "fingerprint": self.fingerprint,
                    "output_bytes": size,
                    "logical": logical,
                    "record": record,
                }
            ).encode(),
            "application/json",
        )

    def _output_name(self, key: str, logical: str) -> str:
        return self.spec.names.output_for(key, logical) if self.spec.names else logical

    def _previous(self, record_key: str) -> dict | None:
        try:
            return json.loads(self.dest.read(record_key)) if self.dest.exists(record_key) else None
        except (StorageError, json.JSONDecodeError):
            return None


def _unreadable_row(key: str, reason: str, detector: str) -> PhotoRow:
    return PhotoRow(
        path=key, output="", sha256="", bytes=0, width=0, height=0, status="error", reason=reason, notes="",
        faces_found=0, faces_masked=0, masks="", detector=detector, ms=0,
    )  # fmt: skip


def _content_type(key: str) -> str:
    suffix = Path(key).suffix.lower()
    return {
        ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
        ".tif": "image/tiff", ".tiff": "image/tiff", ".bmp": "image/bmp", ".gif": "image/gif",
        ".heic": "image/heic", ".heif": "image/heif", ".csv": "text/csv", ".zip": "application/zip",
    }.get(suffix, "application/octet-stream")  # fmt: skip


_WORKER: _Worker | None = None


class WorkerFailure(MaskalbumError):
    """A worker process died; the run stopped (finished photos are kept)."""


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGTERM when the parent dies (kill -9 included).

    Without it, a killed `maskalbum run` leaves its workers waiting on a queue
    nobody feeds, each holding its models and buffers (seen: 1 GB each).
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the pool's own shutdown is all there is
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)  # the parent died before we could ask to follow it


_LIBC = None
# glibc raises its mmap threshold up to 32 MB after a large block is freed: from then on the
# photo's buffers (a 36 MB decode, Pillow's 16 MB blocks, painting's windows) come from the heap
# and stay mapped between photos, so an idle worker kept its busiest photo's footprint while the
# other one peaked. A fixed 1 MB threshold hands every large buffer back when it is freed, and a
# trim between photos returns the rest: process-tree peak on 30 real 12 MP photos, 2 workers,
# 1338 and 1396 MiB -> 1272 and 1240 MiB (two pairs of runs), same photos/s (bench/RESULTS.md).
_MMAP_THRESHOLD = 1 << 20


def _tune_malloc() -> None:
    global _LIBC
    try:
        import ctypes

        _LIBC = ctypes.CDLL("libc.so.6")
        _LIBC.mallopt(-3, _MMAP_THRESHOLD)  # M_MMAP_THRESHOLD (fixed: no dynamic raise)
    except (OSError, AttributeError):
        _LIBC = None  # not glibc: the allocator's own policy


def _release_memory() -> None:
    """Between photos: give the heap's free pages back (a worker waits between photos holding none)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _init_worker(spec: WorkSpec) -> None:
    global _WORKER
    _die_with_parent()
    _tune_malloc()
    # Ctrl-C goes to the whole process group; the parent decides how to stop,
    # so workers finish (and atomically write) the photo they hold.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING)
    _WORKER = _Worker(spec)


def _handle(key: str) -> tuple[dict, bool]:
    assert _WORKER is not None
    try:
        return _WORKER.handle(key)
    finally:
        _release_memory()


ResultCallback = Callable[[dict, bool], None]


def process_entries(
    keys: list[str], spec: WorkSpec, workers: int, on_result: ResultCallback | None = None
) -> list[dict]:
    """Process ``keys`` with ``workers`` processes (1: in this process); records in key order."""
    records: dict[str, dict] = {}

    def done(key: str, record: dict, resumed: bool) -> None:
        records[key] = record
        if on_result:
            on_result(record, resumed)

    if not keys:
        return []
    if workers <= 1 or len(keys) == 1:
        worker = _Worker(spec)
        for key in keys:
            record, resumed = worker.handle(key)
            done(key, record, resumed)
        return [records[k] for k in keys]
    context = multiprocessing.get_context("spawn")  # no fork: onnxruntime threads do not survive it
    workers = min(workers, len(keys))
    window = workers * 2  # bounded queue: memory stays flat for any album size
    with cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(spec,)) as pool:
        pending: dict[cf.Future, str] = {}
        todo = iter(keys)
        try:
            for key in todo:
                pending[pool.submit(_handle, key)] = key
                if len(pending) >= window:
                    _drain(pending, done, cf.FIRST_COMPLETED)
            _drain(pending, done, cf.ALL_COMPLETED)
        except KeyboardInterrupt:
            for future in pending:
                future.cancel()
            raise
    return [records[k] for k in keys]


def _drain(pending: dict, done: Callable, until: str) -> None:
    finished, _ = cf.wait(list(pending), return_when=until)
    for future in finished:
        key = pending.pop(future)
        try:
            record, resumed = future.result()
        except cf.process.BrokenProcessPool as exc:
            # A worker died (failed to start, or was killed, e.g. out of memory).
            # Finished photos are safe on disk; a rerun resumes after them.
            raise WorkerFailure(f"a worker process died while processing {key} ({exc}); rerun to resume") from exc
        done(key, record, resumed)


def write_shard(dest: Storage, layout: Layout, index: int, records: Iterable[dict]) -> None:
    records = list(records)
    rows = pd.DataFrame([r["row"] for r in records], columns=MANIFEST_COLUMNS)
    faces = pd.DataFrame([f for r in records for f in r["faces"]], columns=FACES_COLUMNS)
    dest.write(layout.shard_key(index), rows.to_csv(index=False).encode(), "text/csv")
    dest.write(layout.shard_key(index, "faces"), faces.to_csv(index=False).encode(), "text/csv")


def _read_csv(dest: Storage, key: str, columns: list[str]) -> pd.DataFrame:
    frame = pd.read_csv(io.BytesIO(dest.read(key)), dtype=str, keep_default_na=False)
    return frame.reindex(columns=columns, fill_value="")


@dataclass
class Summary:
    album: str
    destination: str
    photos: int = 0  # still images (every row but the skipped files)
    files: int = 0  # every row of manifest.csv: photos + skipped files
    masked: int = 0  # photos with at least one mask painted
    ok: int = 0
    no_faces: int = 0
    skipped: int = 0
    error: int = 0
    faces_found: int = 0
    faces_masked: int = 0
    resumed: int = 0
    seconds: float = 0.0
    zip: str = ""
    manifest: str = ""
    errors: list[dict] = field(default_factory=list)
    # What the run did besides the photos, one line each (workers capped, outputs of
    # removed photos deleted, a lock taken over from a killed run).
    notices: list[str] = field(default_factory=list)
    orphans_removed: int = 0
    workers: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.error else 0

    def to_json(self) -> dict:
        data = asdict(self)
        data["exit_code"] = self.exit_code
        return data


def finalize(dest: Storage, layout: Layout, album: str, expected_shards: int | None = None) -> Summary:
    """Merge shard rows into manifest.csv and faces.csv, and stream every output image into the zip."""
    shard_keys = sorted(k for k in dest.list(layout.shards) if k.endswith(".csv") and not k.endswith("-faces.csv"))
    if expected_shards is not None and len(shard_keys) != expected_shards:
        raise StorageError(f"expected {expected_shards} shard results, found {len(shard_keys)}: a shard did not finish")
    manifest = pd.concat(
        [_read_csv(dest, k, MANIFEST_COLUMNS) for k in shard_keys] or [pd.DataFrame(columns=MANIFEST_COLUMNS)]
    )
    faces = pd.concat(
        [_read_csv(dest, k[:-4] + "-faces.csv", FACES_COLUMNS) for k in shard_keys]
        or [pd.DataFrame(columns=FACES_COLUMNS)]
    )
    manifest = manifest.drop_duplicates("path", keep="last").sort_values("path", kind="stable")
    faces = faces.drop_duplicates(["image", "face"], keep="last")
    faces = faces.assign(_f=faces["face"].astype(int)).sort_values(["image", "_f"], kind="stable").drop(columns="_f")
    manifest_csv = manifest.to_csv(index=False).encode()
    faces_csv = faces.to_csv(index=False).encode()
    dest.write(layout.manifest, manifest_csv, "text/csv")
    dest.write(layout.faces, faces_csv, "text/csv")
    gallery = write_gallery(dest, layout.root, album, manifest, faces)
    with dest.open_write(layout.zip, "application/zip") as raw, zipfile.ZipFile(raw, "w", allowZip64=True) as zf:
        for out in manifest["output"]:
            if not out:
                continue
            info = zipfile.ZipInfo("images/" + out, ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = (
                zipfile.ZIP_STORED if Path(out).suffix.lower() in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            )
            # force_zip64: the member size is unknown to zipfile while streaming.
            with dest.open_read(layout.images + out) as src, zf.open(info, "w", force_zip64=True) as member:
                while chunk := src.read(1 << 20):
                    member.write(chunk)
        for key in gallery:  # index.html, gallery-data.js, thumbs/
            info = zipfile.ZipInfo(key[len(layout.root) :], ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED if key.endswith(".jpg") else zipfile.ZIP_DEFLATED
            zf.writestr(info, dest.read(key))
        for name, blob in (("manifest.csv", manifest_csv), ("faces.csv", faces_csv)):
            info = zipfile.ZipInfo(name, ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, blob)
    return summarize(manifest, album, dest.describe(), dest.describe(layout.zip), dest.describe(layout.manifest))


def summarize(manifest: pd.DataFrame, album: str, destination: str, zip_path: str, manifest_path: str) -> Summary:
    counts = manifest["status"].value_counts().to_dict()
    errors = manifest[manifest["status"] == "error"][["path", "reason"]].to_dict("records")
    return Summary(
        album=album,
        destination=destination,
        photos=len(manifest) - int(counts.get("skipped", 0)),
        files=len(manifest),
        masked=int((pd.to_numeric(manifest["faces_masked"], errors="coerce").fillna(0) > 0).sum()),
        ok=int(counts.get("ok", 0)),
        no_faces=int(counts.get("no_faces", 0)),
        skipped=int(counts.get("skipped", 0)),
        error=int(counts.get("error", 0)),
        faces_found=int(pd.to_numeric(manifest["faces_found"], errors="coerce").fillna(0).sum()),
        faces_masked=int(pd.to_numeric(manifest["faces_masked"], errors="coerce").fillna(0).sum()),
        zip=zip_path,
        manifest=manifest_path,
        errors=errors,
    )


def default_output(album: Path) -> Path:
    album = album.resolve()
    return album.with_name(album.name + "-masked")


def check_output_location(album: Path, out: Path) -> None:
    a, o = album.resolve(), out.resolve()
    if o == a or o.is_relative_to(a):
        raise UsageError(f"--out {out} is inside the album {album}: choose a folder outside it")
    if a.is_relative_to(o):
        raise UsageError(f"--out {out} contains the album {album}: choose a folder beside it")


def run_album(
    album: Path,
    out: Path | None,
    settings: Settings,
    on_start: Callable[[int], None] | None = None,
    on_result: ResultCallback | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> Summary:
    """``maskalbum run``: the whole album as one shard on this machine, then finalize.

    The output folder is locked for the run (batch_job/lock.py). A failure to
    write it raises StorageError after writing the rows finished so far to
    manifest.csv where it still can; every finished photo is resumed by a rerun.
    """
    started = time.perf_counter()
    out = out or default_output(album)
    check_output_location(album, out)
    entries: list[Entry] = scan(album, exclude=out)
    # Bad --mask / --tag / --mask-file / --detector fail here, before any work.
    build_pool(settings)
    detector_factory(settings.detector)
    notices: list[str] = []

    def notice(text: str) -> None:
        notices.append(text)
        if on_notice:
            on_notice(text)

    dest = LocalStorage(out)
    dest.create()
    with hold(dest.root) as lock:
        if lock.taken_over:
            notice(f"took over the lock of a run that no longer runs ({lock.taken_over.describe()})")
        dest.remove_stale_temp_files()
        layout = local_layout(album.resolve().name)
        keys = [e.key for e in entries if not e.skip]
        spec = WorkSpec(
            str(album.resolve()), str(out.resolve()), layout, settings, frozenset(),
            names=OutputNames(e.key for e in entries),
            sources={e.key: e.source for e in entries if e.source},
            name_notes={e.key: e.note for e in entries if e.note},
        )  # fmt: skip
        workers, why = plan_workers(settings, len(keys))
        if why:
            notice(why)
        if on_start:
            on_start(len(entries))
        resumed = 0
        finished: list[dict] = [_skipped_record(e, settings.detector) for e in entries if e.skip]

        def counted(record: dict, was_resumed: bool) -> None:
            nonlocal resumed
            resumed += was_resumed
            finished.append(record)
            if on_result:
                on_result(record, was_resumed)

        for record in list(finished):
            if on_result:
                on_result(record, False)
        try:
            process_entries(keys, spec, workers, counted)
        except StorageError as exc:
            kept = _write_partial(dest, layout, finished)
            raise StorageError(f"{exc}. {kept}") from exc
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM to the whole group): a worker killed mid-write leaves
            # its temp file (an image or a thumbnail); none is a valid output, and we hold the lock.
            dest.remove_stale_temp_files()
            raise
        # The local run is one shard; remove shards from an earlier, differently-sized run.
        for key in list(dest.list(layout.shards)):
            dest.delete(key)
        write_shard(dest, layout, 0, sorted(finished, key=lambda r: r["row"]["path"]))
        summary = finalize(dest, layout, album.resolve().name)
        removed = remove_orphans(dest, layout, entries, {r["row"]["output"] for r in finished})
        if removed:
            notice(f"removed {removed} output(s) of photos no longer in the album from images/")
    summary.resumed = resumed
    summary.orphans_removed = removed
    summary.workers = workers
    summary.notices = notices
    summary.seconds = round(time.perf_counter() - started, 2)
    return summary


# Peak RSS of one worker in the worst case measured (every photo read whole at
# 2048 px, 12 MP photos; bench/RESULTS.md): 639 MiB. A worker more than memory
# allows would be killed by the OOM killer (a dead pool) or swap the machine.
WORKER_MEMORY = 640 << 20


def available_memory() -> int | None:
    """Bytes this process may still use: MemAvailable, or the cgroup's limit if lower (containers)."""
    found = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    cgroups = (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),  # v1
    )
    for limit, usage in cgroups:
        try:
            top = Path(limit).read_text().strip()
            if top != "max" and int(top) < 1 << 60:
                found.append(int(top) - int(Path(usage).read_text().strip()))
        except (OSError, ValueError):
            continue
    return min(found) if found else None


def cpu_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def plan_workers(
    settings: Settings, photos: int, memory: int | None = None, cores: int | None = None
) -> tuple[int, str]:
    """Worker processes for a local run, and why fewer than asked ("" when as asked).

    Capped by the CPU cores this process may use (the local detector is CPU-bound:
    more processes than cores only add memory; measured 4x slower at 1000 on 23
    photos), by memory (WORKER_MEMORY each) and by the number of photos.
    """
    cores = cores or cpu_cores()
    asked = settings.workers or cores
    memory = available_memory() if memory is None else memory
    caps = []
    if settings.detector == "local":  # Rekognition's workers wait on the network, not the CPU
        caps.append((cores, f"{cores} CPU core{'s' if cores != 1 else ''}"))
    if memory is not None:
        caps.append(
            (
                max(1, memory // WORKER_MEMORY),
                f"{memory / (1 << 30):.1f} GiB of memory free at ~{WORKER_MEMORY >> 20} MiB a worker",
            )
        )
    n, why = asked, ""
    for cap, reason in caps:
        if cap < n:
            n, why = cap, reason
    n = max(1, min(n, photos)) if photos else 1
    if settings.workers and n < asked and why:
        return n, f"--workers {asked} capped to {n} ({why})"
    return n, ""


def _skipped_record(entry: Entry, detector: str) -> dict:
    row = replace(_unreadable_row(entry.key, entry.skip, detector), status=entry.skip_status, notes=entry.note)
    return PhotoResult(row).to_json()


def _write_partial(dest: LocalStorage, layout: Layout, records: list[dict]) -> str:
    """After a write failure: the rows finished so far into manifest.csv, if the disk still takes them."""
    rows = pd.DataFrame([r["row"] for r in records], columns=MANIFEST_COLUMNS).sort_values("path", kind="stable")
    faces = pd.DataFrame([f for r in records for f in r["faces"]], columns=FACES_COLUMNS)
    try:
        dest.write(layout.manifest, rows.to_csv(index=False).encode(), "text/csv")
        dest.write(layout.faces, faces.to_csv(index=False).encode(), "text/csv")
    except StorageError:
        return f"The {len(records)} photos finished are kept in images/ and are resumed by a rerun"
    return f"The {len(records)} rows finished so far are in {dest.describe(layout.manifest)}; a rerun resumes the rest"


def remove_orphans(dest: LocalStorage, layout: Layout, entries: list[Entry], outputs: set[str]) -> int:
    """Delete images/ files and records that no file of the album owns any more; returns images removed."""
    removed = 0
    for key in list(dest.list(layout.images)):
        if key[len(layout.images) :] not in outputs:
            dest.delete(key)
            removed += 1
    records = {layout.record_key(e.key) for e in entries}
    for key in list(dest.list(layout.records)):
        if key not in records:
            dest.delete(key)
    # Their thumbnails too (the page never shows them; a folder copied elsewhere should not carry them).
    thumbs = {k for out in outputs for k in thumb_keys(out, layout.root + THUMBS)}
    for key in list(dest.list(layout.root + THUMBS)):
        if key not in thumbs:
            dest.delete(key)
    # Folders emptied by the removals go too (deepest first).
    for top in (dest.root / layout.images, dest.root / layout.root / THUMBS):
        for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()
    return removed
