"""Rebuild the sample album examples/choshi_trip/ (deterministic).

    python -m examples.make_examples

Every picture is generated here from public-domain material (see
examples/README.md): synthetic people made by testing/synth.py from two US
government portraits, painted with surgical masks by code, and one of those
portraits as it is (a real, unmasked face that must be left alone).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from testing.synth import FACES_DIR, PersonSpec, make_scene

HERE = Path(__file__).resolve().parent

ALBUM = HERE / "choshi_trip"


def _exif(date: str, orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "maskalbum example"
    exif[0x0110] = "synthetic camera"
    exif.get_ifd(0x8769)[0x9003] = date
    if orientation:
        exif[0x0112] = orientation
    return exif.tobytes()


def _save_jpeg(image: Image.Image, path: Path, date: str, orientation: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=88, subsampling="4:2:0", exif=_exif(date, orientation))


def _lighthouse(size=(960, 640)) -> Image.Image:
    """A scene with no people: sea, sky and a lighthouse (drawn)."""
    w, h = size
    rng = np.random.default_rng(4)
    y = np.linspace(0, 1, h)[:, None, None]
    sky = np.array([120, 170, 225]) * (1 - y) + np.array([235, 225, 210]) * y
    img = np.broadcast_to(sky, (h, w, 3)).copy()
    horizon = int(h * 0.62)
    sea = np.linspace(0, 1, h - horizon)[:, None, None]
    img[horizon:] = np.array([40, 90, 140]) * (1 - sea) + np.array([20, 50, 80]) * sea
    img += rng.normal(0, 0.6, img.shape)  # a little grain, kept small for the PNG size
    image = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.polygon(
        [(w * 0.66, horizon - 10), (w * 0.70, h * 0.22), (w * 0.74, h * 0.22), (w * 0.78, horizon - 10)],
        fill=(240, 238, 230),
    )
    for k in range(3):
        yy = h * (0.3 + 0.1 * k)
        draw.rectangle([w * 0.69, yy, w * 0.75, yy + h * 0.03], fill=(190, 40, 40))
    draw.rectangle([w * 0.695, h * 0.17, w * 0.745, h * 0.22], fill=(60, 60, 60))
    draw.polygon([(w * 0.0, horizon + 30), (w * 0.3, horizon - 25), (w * 0.55, horizon + 40)], fill=(70, 80, 60))
    return image.filter(ImageFilter.GaussianBlur(0.6))


def main() -> None:
    ALBUM.mkdir(parents=True, exist_ok=True)
    # Day 1: the group at the beach, a selfie on the train, the crowd at the market.
    beach = make_scene(
        [PersonSpec(150, asset=0, yaw=-20, roll=5), PersonSpec(175, asset=1, colour="white"),
         PersonSpec(160, asset=0, colour="paleblue", yaw=25, skin="medium", mirror=True),
         PersonSpec(140, asset=1, yaw=30, roll=-8, skin="deep"), PersonSpec(130, asset=0, yaw=-35, light=0.75)],
        size=(1600, 1100), seed=21,
    )  # fmt: skip
    _save_jpeg(beach.image, ALBUM / "day1" / "beach_group.jpg", "2021:07:24 11:02:15")
    selfie = make_scene(
        [PersonSpec(420, asset=1, yaw=-12, roll=-6), PersonSpec(360, asset=0, yaw=28, roll=4, light=0.8)],
        size=(1400, 1000), seed=22, positions=[(420, 430), (1000, 470)],
    )  # fmt: skip
    _save_jpeg(selfie.image, ALBUM / "day1" / "train_selfie.jpg", "2021:07:24 09:41:50")
    rng = np.random.default_rng(23)
    crowd_people, positions = [], []
    for row in range(2):
        for col in range(6):
            crowd_people.append(
                PersonSpec(
                    70 + row * 25,
                    asset=(row + col) % 2,
                    yaw=float(rng.uniform(-35, 35)),
                    roll=float(rng.uniform(-12, 12)),
                    skin=["light", "medium", "deep"][col % 3],
                    colour="white" if col % 3 else "paleblue",
                    masked=(row, col) != (1, 4),
                )
            )
            positions.append((130 + col * 250 + row * 40, 300 + row * 260))
    crowd = make_scene(crowd_people, size=(1600, 900), seed=24, positions=positions)
    _save_jpeg(crowd.image, ALBUM / "day1" / "market_crowd.jpg", "2021:07:24 15:20:03")
    # Day 2: a portrait shot with the phone turned (EXIF orientation 6), a real unmasked
    # portrait, the lighthouse without people, and a HEIC from an iPhone.
    ferry = make_scene([PersonSpec(260, asset=0, yaw=10), PersonSpec(230, asset=1, yaw=-22, colour="paleblue")],
                       size=(900, 1200), seed=25, positions=[(300, 520), (640, 560)])  # fmt: skip
    _save_jpeg(
        ferry.image.transpose(Image.Transpose.ROTATE_90),
        ALBUM / "day2" / "ferry.jpg",
        "2021:07:25 08:12:44",
        orientation=6,
    )
    hopper = Image.open(FACES_DIR / "hopper.png").convert("RGB")
    _save_jpeg(hopper, ALBUM / "day2" / "museum_portrait.jpg", "2021:07:25 13:05:10")
    _lighthouse().save(ALBUM / "day2" / "lighthouse.png", optimize=True)
    heic = make_scene([PersonSpec(230, asset=1, yaw=15), PersonSpec(210, asset=0, yaw=-10, skin="medium")],
                      size=(1200, 900), seed=26)  # fmt: skip
    import pillow_heif

    buffer = io.BytesIO()
    pillow_heif.from_pillow(heic.image).save(buffer, quality=80, exif=_exif("2021:07:25 17:48:31"))
    (ALBUM / "day2" / "IMG_4021.HEIC").write_bytes(buffer.getvalue())
    (ALBUM / "notes.txt").write_text("Choshi, July 2021. Ferry at 8, lighthouse after lunch.\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in ALBUM.rglob("*") if p.is_file())
    print(f"wrote {ALBUM} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
