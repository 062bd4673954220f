"""Rebuild the face textures used by the synthetic benchmark and tests.

    python -m testing.faces.make_assets

Both portraits are public domain (works of the US government):
- ``astronaut``: Eileen Collins, NASA portrait, as shipped in scikit-image's data
  (``skimage/data/astronaut.png``).
- ``hopper``: Rear Admiral Grace Hopper, US Navy portrait, as shipped in
  matplotlib's sample data (``mpl-data/sample_data/grace_hopper.jpg``).

The script fetches the two wheels with ``pip download --no-deps`` (no install),
crops each head, and stores the crop plus its FaceMesh-468 points (x, y, z in
crop pixels, from our own local detector) in ``faces.json``.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

from PIL import Image

from batch_job.detect.models.convert import download_wheel

HERE = Path(__file__).resolve().parent
SOURCES = {
    "astronaut": ("scikit-image==0.26.0", "skimage/data/astronaut.png", (110, 0, 350, 260)),
    "hopper": ("matplotlib==3.11.2", "matplotlib/mpl-data/sample_data/grace_hopper.jpg", (120, 60, 420, 400)),
}


def _fetch(spec: str, member: str, tmp: Path) -> Image.Image:
    with zipfile.ZipFile(download_wheel(spec, tmp)) as zf:
        return Image.open(io.BytesIO(zf.read(member))).convert("RGB")


def main() -> None:
    import numpy as np

    from batch_job.detect.local import LocalDetector
    from batch_job.imaging import Photo

    detector = LocalDetector()
    meta = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (spec, member, box) in SOURCES.items():
            crop = _fetch(spec, member, Path(tmp)).crop(box)
            buffer = io.BytesIO()
            crop.save(buffer, "PNG", optimize=True)
            (HERE / f"{name}.png").write_bytes(buffer.getvalue())
            photo = Photo(buffer.getvalue())
            ((_, mesh),) = detector.detect_with_meshes(photo)
            meta[name] = {
                "source": f"{spec} {member}, cropped to {list(box)}",
                "mesh": np.round(mesh, 2).tolist(),
            }
    (HERE / "faces.json").write_text(json.dumps(meta, separators=(",", ":")))
    print("wrote", ", ".join(sorted(meta)))


if __name__ == "__main__":
    main()
