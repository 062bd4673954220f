"""This machine's record of where each submitted album went: album id -> bucket, region, job ids.

``status``, ``download``, ``cancel`` and ``logs`` take an album id alone: the
bucket and region come from here (a flag still wins; without a record, the
config file and environment decide). One JSON file under
``$XDG_STATE_HOME/maskalbum/`` (default ``~/.local/state/maskalbum/``),
replaced atomically, so a crash mid-write leaves the previous version.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from batch_job.errors import UsageError

FILE = "albums.json"


@dataclass(frozen=True)
class AlbumRecord:
    album_id: str
    bucket: str
    region: str
    jobs: dict[str, str] = field(default_factory=dict)  # role (shards, finalize) -> Batch job id
    submitted_at: str = ""
    folder: str = ""  # the local album folder it came from


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "maskalbum"


class AlbumBook:
    """The state file. Reads are forgiving (a missing or damaged file is an empty book); writes are atomic."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / FILE

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return {}  # a damaged book only loses the shortcut: flags and the config still work
        return data.get("albums", {}) if isinstance(data, dict) else {}

    def get(self, album_id: str) -> AlbumRecord | None:
        raw = self._read().get(album_id)
        if not raw:
            return None
        try:
            return AlbumRecord(**raw)
        except TypeError:
            return None

    def all(self) -> list[AlbumRecord]:
        return [r for a in self._read() if (r := self.get(a))]

    def put(self, record: AlbumRecord) -> None:
        albums = self._read()
        albums[record.album_id] = asdict(record)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".albums-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"albums": albums}, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise UsageError(f"cannot write the album record {self.path}: {exc}") from exc
