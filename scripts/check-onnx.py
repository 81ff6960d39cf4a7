#!/usr/bin/env python3
"""Checks a covergenre ONNX model with the reference tools: onnx.checker (full check), strict
shape inference, the input/output contract, the metadata, and a run in onnxruntime.

Usage: scripts/check-onnx.py MODEL.onnx [--batch N]

Needs the onnx and onnxruntime packages from PyPI. When they are not importable, the script
re-runs itself with $COVERGENRE_PYTHON, or <repo>/.deps/venv/bin/python (made by scripts/setup.sh),
or $COVERGENRE_DEPS_DIR/venv/bin/python. Prints "OK: ..." and exits 0 when every check passes;
prints the failed check on stderr and exits 1 otherwise (2 for bad usage or missing tools).
"""
import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def reexec_with_tools():
    """Re-runs this script with a Python that has onnx + onnxruntime, if we are not one."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        return
    except ImportError:
        pass
    candidates = [os.environ.get("COVERGENRE_PYTHON"), str(REPO / ".deps/venv/bin/python")]
    if os.environ.get("COVERGENRE_DEPS_DIR"):
        candidates.append(str(Path(os.environ["COVERGENRE_DEPS_DIR"]) / "venv/bin/python"))
    for python in filter(None, candidates):
        if Path(python).is_file() and Path(python).resolve() != Path(sys.executable).resolve():
            os.execv(python, [python, *sys.argv])
    sys.exit("check-onnx: onnx and onnxruntime are not installed; run scripts/setup.sh "
             "or set COVERGENRE_PYTHON to a Python that has them")


class CheckFailed(Exception):
    pass


def require(condition, message):
    if not condition:
        raise CheckFailed(message)


def dims(value_info):
    shape = value_info.type.tensor_type.shape
    return [d.dim_param if d.HasField("dim_param") else d.dim_value for d in shape.dim]


def check_structure(path):
    import onnx

    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    graph = model.graph
    require([i.name for i in graph.input] == ["image"],
            f"expected one input 'image', found {[i.name for i in graph.input]}")
    image = graph.input[0]
    require(image.type.tensor_type.elem_type == onnx.TensorProto.UINT8, "input 'image' is not uint8")
    shape = dims(image)
    require(len(shape) == 4 and isinstance(shape[0], str) and shape[3] == 3,
            f"input 'image' should be [N, H, W, 3] with a dynamic N, is {shape}")
    outputs = {o.name: o for o in graph.output}
    for name in ("probabilities", "logits"):
        require(name in outputs, f"no output '{name}'")
        require(outputs[name].type.tensor_type.elem_type == onnx.TensorProto.FLOAT,
                f"output '{name}' is not float")
    meta = {p.key: p.value for p in model.metadata_props}
    require("genres" in meta, "no 'genres' metadata entry")
    genres = json.loads(meta["genres"])
    require(isinstance(genres, list) and genres and all(isinstance(g, str) for g in genres),
            "'genres' is not a non-empty JSON list of names")
    classes = dims(outputs["probabilities"])[1]
    require(classes == len(genres), f"{classes} outputs but {len(genres)} genres")
    require([int(meta.get("input_height", 0)), int(meta.get("input_width", 0))] == shape[1:3],
            f"input_height/width metadata {meta.get('input_height')}x{meta.get('input_width')} "
            f"do not match the input {shape[1:3]}")
    if "temperature" in meta:
        require(float(meta["temperature"]) > 0, f"temperature {meta['temperature']} is not positive")
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return shape, genres, meta, opset


def check_runtime(path, shape, genres, batch, temperature=1.0):
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for n in sorted({1, batch}):
        images = rng.integers(0, 256, size=(n, shape[1], shape[2], 3), dtype=np.uint8)
        probabilities, logits = session.run(["probabilities", "logits"], {"image": images})
        require(probabilities.shape == (n, len(genres)),
                f"probabilities have shape {probabilities.shape} for a batch of {n}")
        require(np.all(np.isfinite(logits)), "logits are not finite")
        require(np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5), "probabilities do not sum to 1")
        # A calibrated model's probabilities are softmax(logits / T); its logits stay raw.
        scaled = logits.astype(np.float64) / temperature
        shifted = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        softmax = shifted / shifted.sum(axis=1, keepdims=True)
        require(np.allclose(softmax, probabilities, atol=1e-5),
                f"probabilities are not softmax(logits / {temperature})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--batch", type=int, default=3, help="images in the test batch (default 3)")
    args = parser.parse_args()
    if not args.model.is_file():
        print(f"check-onnx: {args.model}: no such file", file=sys.stderr)
        return 2
    reexec_with_tools()
    try:
        shape, genres, meta, opset = check_structure(args.model)
        check_runtime(args.model, shape, genres, args.batch, float(meta.get("temperature", 1.0)))
    except CheckFailed as failure:
        print(f"check-onnx: {args.model}: {failure}", file=sys.stderr)
        return 1
    except Exception as error:  # onnx.checker and onnxruntime raise their own types
        print(f"check-onnx: {args.model}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"OK: {args.model}: opset {opset}, input {shape}, {len(genres)} genres, "
          f"variant {meta.get('variant', '?')!r}, temperature {meta.get('temperature', 1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
