"""Convert AIZOOTech's face-mask SSD (TFLite) to the ONNX file the wearing check reads.

    python -m bench.convert_aizoo TFLITE [--out batch_job/detect/models/aizoo_mask.onnx] [--check]

TFLITE is ``models/face_mask_detection.tflite`` of the public repository
AIZOOTech/FaceMaskDetection at commit 256dc65 (MIT; sha256 checked below), as
kept in ../shared/models/aizoo-face-mask/. Dev tools only (onnx, tflite2onnx);
the runtime reads the result with onnxruntime.

What changes, and why (no weight is touched):
- ``tflite2onnx`` turns the NHWC input into NCHW (1 x 3 x 260 x 260, RGB in 0..1);
- it writes the 10 Reshape nodes' target shapes as 2-D tensors, which
  onnxruntime refuses ("A shape tensor must be a vector tensor"): flattened to 1-D;
- the input's height and width (and the anchor count out) are made symbolic and
  the converter's fixed-size value_info dropped: the wearing check runs it on a
  smaller crop than the 260 x 260 it was trained at (batch_job/wearing.py MASK_SIDE);
- only what the wearing check reads is kept: the class scores of the first four
  levels (anchors 0.04-0.45 of the side; a face fills half the crop). The box
  offsets and the last level go (a quarter of the work at 128 px, and the
  last level's unpadded 3 x 3 convolution would need 160 px or more);
- initializers are sorted by name, so two runs give the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "batch_job" / "detect" / "models" / "aizoo_mask.onnx"
SCORES = "cls_branch_concat_1/concat"  # the [mask, no mask] scores of every anchor, level by level
LEVELS = 4
TFLITE_SHA256 = "d2347acf155858681619bc009368f730288aa0447d2c97209be4a26d9be4e928"


def convert(src: Path, dst: Path) -> None:
    import onnx
    import tflite2onnx
    from onnx import numpy_helper

    dst.unlink(missing_ok=True)  # tflite2onnx refuses to overwrite
    tflite2onnx.convert(str(src), str(dst))
    model = onnx.load(str(dst))
    shapes = {node.input[1] for node in model.graph.node if node.op_type == "Reshape"}
    for i, init in enumerate(model.graph.initializer):
        if init.name in shapes and len(init.dims) != 1:
            flat = numpy_helper.to_array(init).reshape(-1)
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(flat, init.name))
    _keep_class_scores(model.graph, LEVELS)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "anchors"
    del model.graph.value_info[:]
    ordered = sorted(model.graph.initializer, key=lambda item: item.name)
    del model.graph.initializer[:]
    model.graph.initializer.extend(ordered)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def _keep_class_scores(graph, levels: int) -> None:
    """Cut the graph down to one output, the class scores of the first ``levels`` levels."""
    (concat,) = [n for n in graph.node if n.output[0] == SCORES]
    del concat.input[levels:]
    kept_outputs = [o for o in graph.output if o.name == SCORES]
    del graph.output[:]
    graph.output.extend(kept_outputs)
    needed, kept = {SCORES}, []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    weights = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(weights)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tflite", type=Path)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--check", action="store_true", help="convert into a temp dir and compare with --out")
    args = p.parse_args()
    digest = hashlib.sha256(args.tflite.read_bytes()).hexdigest()
    if digest != TFLITE_SHA256:
        print(f"{args.tflite}: sha256 {digest}, expected {TFLITE_SHA256}", file=sys.stderr)
        return 1
    if not args.check:
        convert(args.tflite, args.out)
        print(f"{args.out}  sha256={hashlib.sha256(args.out.read_bytes()).hexdigest()}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / args.out.name
        convert(args.tflite, built)
        same = built.read_bytes() == args.out.read_bytes()
        print(f"{args.out.name}: {'identical' if same else 'DIFFERENT'}")
        return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
