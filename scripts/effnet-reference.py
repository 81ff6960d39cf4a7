#!/usr/bin/env python3
"""Independent numpy reference for EfficientNet-Lite0 and Lite2 with the ImageNet weights.

It shares no code with the Rust side: it reads the LEGACY torch.save file with Python's own
pickle (a custom find_class/persistent_load, no torch), rebuilds every tensor from its storage,
offset, size and stride, and runs the network as the PyTorch port that shipped the weights
defines it (lukemelas-style EfficientNet with TensorFlow "SAME" padding computed for a fixed
224x224 input (260x260 for Lite2), which is asymmetric for the stride-2 convolutions; batch
norm eps 1e-3; ReLU6; no squeeze-excite). Lite2's stages are Lite0's scaled as TensorFlow's
efficientnet_lite_builder does it (width 1.1: channels rounded to multiples of 8, never more than
10% down; depth 1.2: repeats rounded up, except the first and last stage; stem 32 and head 1280
fixed).

The input is a deterministic made-up 224x224 image, defined by integer formulas so that the
Rust test (tests/pretrained.rs, `reference_image`) builds the very same bytes, then scaled with
covergenre's Normalisation::EFFICIENTNET_LITE (pixel * scale + shift, in float32).

Usage:
    .deps/venv/bin/python scripts/effnet-reference.py [WEIGHTS.pth] [-o tests/data/effnet-lite0-reference.json]
    .deps/venv/bin/python scripts/effnet-reference.py --variant lite2 -o tests/data/effnet-lite2-reference.json
    .deps/venv/bin/python scripts/effnet-reference.py WEIGHTS.pth --padding symmetric   # what-if
    .deps/venv/bin/python scripts/effnet-reference.py --write-tiny-fixture tests/data/tiny-legacy.pth

Writes the top-5 indices and logits, and all 1000 logits (6 decimals).
"""

import argparse
import collections
import json
import math
import os
import pickle
import struct
import sys

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
SIZE = 224
# Normalisation::EFFICIENTNET_LITE in src/preprocess.rs (roughly (pixel - 127) / 128).
MEAN = 0.498
STD = 0.502
BN_EPS = 1e-3
# (expand ratio, kernel, stride, out channels, repeats) of EfficientNet-Lite0.
STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
# Width and depth multipliers and input size of each variant.
VARIANTS = {"lite0": (1.0, 1.0, 224), "lite2": (1.1, 1.2, 260)}


def round_filters(filters, width):
    """TF's round_filters with divisor 8."""
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    if rounded < 0.9 * scaled:
        rounded += 8
    return rounded


def scaled_stages(width, depth):
    """Lite0's stages scaled; the first and last stage keep their repeats (lite fixes them)."""
    last = len(STAGES) - 1
    return [(e, k, s, round_filters(o, width), r if i in (0, last) else math.ceil(r * depth))
            for i, (e, k, s, o, r) in enumerate(STAGES)]
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
}


class _Storage:
    """What a persistent id names: a storage key and its element type."""

    def __init__(self, key, dtype):
        self.key = key
        self.dtype = dtype


class _LegacyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return lambda storage, offset, size, stride, *_: ("tensor", storage, offset, size, stride)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")

    def persistent_load(self, pid):
        kind, dtype, key, _location, _numel, _view = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return _Storage(key, dtype)


def load_legacy_state_dict(path):
    """name -> float32 array, from a legacy (pre-zip) torch.save file."""
    with open(path, "rb") as f:
        if pickle.load(f) != LEGACY_MAGIC:
            raise ValueError(f"{path}: not a legacy torch.save file (bad magic number)")
        if pickle.load(f) != LEGACY_PROTOCOL:
            raise ValueError(f"{path}: unsupported legacy protocol")
        sys_info = pickle.load(f)
        if not sys_info.get("little_endian", False):
            raise ValueError(f"{path}: big-endian checkpoints are not supported")
        entries = _LegacyUnpickler(f).load()
        storage_keys = pickle.load(f)
        dtypes = {e[1].key: e[1].dtype for e in entries.values()}
        storages = {}
        for key in storage_keys:
            (numel,) = struct.unpack("<q", f.read(8))
            dtype = np.dtype(dtypes[key])
            storages[key] = np.frombuffer(f.read(numel * dtype.itemsize), dtype=dtype)
    tensors = {}
    for name, (_, storage, offset, size, stride) in entries.items():
        flat = storages[storage.key]
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[offset:], shape=size, strides=[s * itemsize for s in stride])
        tensors[name] = np.ascontiguousarray(view).astype(np.float32)
    return tensors


def reference_image():
    """A smooth made-up SIZE x SIZE RGB image (uint8 HWC), integer formulas only."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.int64)
    r = x * 255 // (SIZE - 1)
    g = y * 255 // (SIZE - 1)
    b = (x + 2 * y) * 255 // (3 * (SIZE - 1))
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def normalise(image):
    scale = np.float32(1.0) / (np.float32(255.0) * np.float32(STD))
    shift = -np.float32(MEAN) / np.float32(STD)
    x = image.astype(np.float32) * scale + shift
    return x.transpose(2, 0, 1)  # CHW


def same_padding(size, kernel, stride, mode):
    """(before, after) padding; TF "SAME" puts the odd pixel after."""
    if mode == "symmetric":
        return kernel // 2, kernel // 2
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv(x, w, stride, groups, mode):
    """x: CHW, w: [out, in/groups, k, k]; no bias (every conv here is followed by batch norm)."""
    c, h, _ = x.shape
    out, per_group, k, _ = w.shape
    before, after = same_padding(h, k, stride, mode)
    xp = np.pad(x, ((0, 0), (before, after), (before, after)))
    oh = (xp.shape[1] - k) // stride + 1
    ow = (xp.shape[2] - k) // stride + 1
    if groups == 1:
        cols = np.empty((c, k, k, oh, ow), dtype=np.float32)
        for i in range(k):
            for j in range(k):
                cols[:, i, j] = xp[:, i:i + stride * oh:stride, j:j + stride * ow:stride]
        return (w.reshape(out, -1) @ cols.reshape(c * k * k, -1)).reshape(out, oh, ow)
    assert groups == c == out and per_group == 1, "only full and depthwise convolutions"
    acc = np.zeros((c, oh, ow), dtype=np.float32)
    for i in range(k):
        for j in range(k):
            acc += w[:, 0, i, j][:, None, None] * xp[:, i:i + stride * oh:stride, j:j + stride * ow:stride]
    return acc


def batch_norm(x, t, prefix):
    scale = t[prefix + ".weight"] / np.sqrt(t[prefix + ".running_var"] + BN_EPS)
    shift = t[prefix + ".bias"] - t[prefix + ".running_mean"] * scale
    return x * scale[:, None, None] + shift[:, None, None]


def relu6(x):
    return np.clip(x, 0.0, 6.0)


def block_configs():
    """(expand, kernel, stride, in, out) for every MBConv block, in checkpoint order."""
    blocks, channels = [], 32
    for expand, kernel, stride, out, repeats in STAGES:
        for r in range(repeats):
            blocks.append((expand, kernel, stride if r == 0 else 1, channels, out))
            channels = out
    return blocks


def forward(t, x, mode):
    x = relu6(batch_norm(conv(x, t["_conv_stem.weight"], 2, 1, mode), t, "_bn0"))
    for i, (expand, _kernel, stride, cin, cout) in enumerate(block_configs()):
        p = f"_blocks.{i}."
        y = x
        if expand != 1:
            y = relu6(batch_norm(conv(y, t[p + "_expand_conv.weight"], 1, 1, mode), t, p + "_bn0"))
        y = relu6(batch_norm(conv(y, t[p + "_depthwise_conv.weight"], stride, y.shape[0], mode), t, p + "_bn1"))
        y = batch_norm(conv(y, t[p + "_project_conv.weight"], 1, 1, mode), t, p + "_bn2")
        x = x + y if stride == 1 and cin == cout else y
    x = relu6(batch_norm(conv(x, t["_conv_head.weight"], 1, 1, mode), t, "_bn1"))
    pooled = x.mean(axis=(1, 2))
    return t["_fc.weight"] @ pooled + t["_fc.bias"]


def write_tiny_fixture(path):
    """A tiny checkpoint in torch's legacy layout for the Rust reader's unit tests, written with
    Python's own pickle (no torch): fake torch classes are registered so that pickle emits the
    same GLOBALs, persistent ids and REDUCE calls torch.save does."""
    import types

    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise NotImplementedError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    storage_classes = {}
    for name in ("FloatStorage", "LongStorage"):
        cls = type(name, (), {"__module__": "torch", "__qualname__": name})
        setattr(torch, name, cls)
        storage_classes[name] = cls
    sys.modules.setdefault("torch", torch)
    sys.modules.setdefault("torch._utils", utils)

    class Storage:
        def __init__(self, key, kind, data):
            self.key, self.kind, self.data = key, kind, np.asarray(data)

    class Tensor:
        def __init__(self, storage, offset, size, stride):
            self.args = (storage, offset, size, stride, False, collections.OrderedDict())

        def __reduce__(self):
            return (_rebuild_tensor_v2, self.args)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", storage_classes[obj.kind], obj.key, "cpu", obj.data.size, None)
            return None

    weights = Storage("0", "FloatStorage", np.arange(6, dtype="<f4"))
    means = Storage("1", "FloatStorage", np.array([9, 7, 8], dtype="<f4"))
    count = Storage("2", "LongStorage", np.array([42], dtype="<i8"))
    state = collections.OrderedDict()
    state["conv.weight"] = Tensor(weights, 0, (2, 3), (1, 2))
    state["bn.running_mean"] = Tensor(means, 1, (2,), (1,))
    state["bn.num_batches_tracked"] = Tensor(count, 0, (), ())
    state["shared"] = Tensor(weights, 3, (3,), (1,))
    state._metadata = collections.OrderedDict([("conv", {"version": 1})])
    with open(path, "wb") as f:
        for header in (LEGACY_MAGIC, LEGACY_PROTOCOL,
                       {"protocol_version": LEGACY_PROTOCOL, "little_endian": True,
                        "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(header, f, protocol=2)
        Pickler(f, protocol=2).dump(state)
        storages = sorted([weights, means, count], key=lambda s: s.key)
        pickle.dump([s.key for s in storages], f, protocol=2)
        for s in storages:
            f.write(struct.pack("<q", s.data.size))
            f.write(s.data.tobytes())


def default_weights(variant):
    base = os.environ.get("COVERGENRE_WEIGHTS")
    if base is None:
        deps = os.environ.get("COVERGENRE_DEPS_DIR",
                              os.path.join(os.path.dirname(__file__), "..", ".deps"))
        base = os.path.join(deps, "weights")
    return os.path.join(base, f"efficientnet-{variant}.pth") if os.path.isdir(base) else base


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="?", default=None)
    parser.add_argument("-o", "--output", help="write the reference JSON here")
    parser.add_argument("--padding", choices=["tf-same", "symmetric"], default="tf-same")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="lite0")
    parser.add_argument("--write-tiny-fixture", metavar="PATH",
                        help="only write the tiny legacy checkpoint used by the Rust unit tests")
    args = parser.parse_args()
    if args.write_tiny_fixture:
        write_tiny_fixture(args.write_tiny_fixture)
        return
    global SIZE, STAGES
    width, depth, SIZE = VARIANTS[args.variant]
    STAGES = scaled_stages(width, depth)
    weights = args.weights or default_weights(args.variant)
    tensors = load_legacy_state_dict(weights)
    logits = forward(tensors, normalise(reference_image()), args.padding).astype(np.float64)
    top5 = np.argsort(-logits)[:5]
    result = {
        "weights": os.path.basename(weights),
        "variant": args.variant,
        "stages": STAGES,
        "image": f"reference_image(): r = x*255//{SIZE - 1}, g = y*255//{SIZE - 1}, "
                 f"b = (x+2y)*255//{3 * (SIZE - 1)}, {SIZE}x{SIZE}",
        "normalisation": {"mean": MEAN, "std": STD},
        "padding": args.padding,
        "top5": [{"index": int(i), "logit": float(logits[i])} for i in top5],
        # All 1000, so the Rust test compares every class and not only the winners.
        "logits": [round(float(v), 6) for v in logits],
    }
    text = json.dumps(result, indent=1) + "\n"
    if args.output:
        tmp = args.output + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.output)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
