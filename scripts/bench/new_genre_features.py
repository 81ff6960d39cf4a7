#!/usr/bin/env python3
"""A study for issue 28: how well can covers alone tell a genre the base model lacks (Pop) from
the genres it knows, whatever features of the cover a head reads? (docs/results-training.md,
"Learning a library from a base model", "How far covers alone tell Pop apart").

For covers-v1's dev and test covers of the seven genres the bench libraries keep (the shipped
model never trained on them) and pop-v1's 500 Pop covers, three views of each cover:
- the shipped model's 12 logits (what `covergenre-train --data LIBRARY` learns from today);
- its pooled 1,280 features (the GlobalAveragePool output, read from the ONNX file by adding it
  as a graph output);
- ImageNet EfficientNet-Lite0's pooled 1,280 features (the weights scripts/setup.sh unpacks
  into .deps/weights; scripts/bench/transfer_reference.py's network), features that never saw a
  genre label.
For each view, six random halves: an L2 logistic regression of Pop against the rest fitted on
one half (features standardised; several strengths), ROC AUC on the other. The best strength
is picked on the scoring half itself, so each AUC is an optimistic bound.

Usage (bench venv, scripts/bench/setup-python.sh):
    .deps/bench-venv/bin/python scripts/bench/new_genre_features.py ../shared/data/covers-v1 \
        ../shared/data/pop-v1 models/covergenre.onnx --weights .deps/weights/efficientnet-lite0.pth
"""
import argparse
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime
import torch
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from transfer_reference import Lite0  # noqa: E402

KEPT = ["alternative-rock", "classical", "country", "dance-electronic", "jazz", "metal",
        "rap-hip-hop"]
STRENGTHS = [1, 10, 100, 1000, 10000]


def covers(covers_v1, pop_v1):
    found = [(p, p.parent.name) for split in ("dev", "test") for genre in KEPT
             for p in sorted((pathlib.Path(covers_v1) / split / genre).glob("*.jpg"))]
    return found + [(p, "pop") for p in sorted((pathlib.Path(pop_v1) / "pop").glob("*.jpg"))]


def pixels(path, size):
    return np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR))


def shipped_views(model_path, paths):
    """The shipped model's logits and pooled features, through onnxruntime."""
    model = onnx.load(model_path)
    pooled = next(n.output[0] for n in model.graph.node if n.op_type == "GlobalAveragePool")
    model.graph.output.append(onnx.helper.make_tensor_value_info(pooled, onnx.TensorProto.FLOAT, None))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    size = next(int(p.value) for p in model.metadata_props if p.key == "input_height")
    logits, features = [], []
    for i in range(0, len(paths), 32):
        batch = np.stack([pixels(p, size) for p in paths[i:i + 32]])
        out_logits, out_pooled = session.run(["logits", pooled], {"image": batch})
        logits.append(out_logits)
        features.append(out_pooled.reshape(len(batch), -1))
    return np.concatenate(logits), np.concatenate(features)


def imagenet_view(weights, paths):
    """ImageNet Lite0's pooled features (after the head convolution), at 224x224."""
    network = Lite0()
    network.load_state_dict(torch.load(weights, map_location="cpu"))
    network.eval()
    torch.set_num_threads(2)
    mean, scale = 0.498 * 255, 0.502 * 255
    features = []
    with torch.inference_mode():
        for i in range(0, len(paths), 32):
            batch = torch.from_numpy(np.stack([pixels(p, 224) for p in paths[i:i + 32]]))
            x = (batch.permute(0, 3, 1, 2).float() - mean) / scale
            x = network.frozen(x)
            for block in network._blocks[12:]:
                x = block(x)
            x = torch.nn.functional.relu6(network._bn1(network._conv_head(x)))
            features.append(x.mean((2, 3)).numpy())
    return np.concatenate(features)


def auc(scores, positive):
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores)] = np.arange(1, len(scores) + 1)
    n1 = positive.sum()
    n0 = len(positive) - n1
    return (ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def logistic(x, y, strength):
    """Newton's method on the L2-penalised log loss (bias unpenalised); returns a scorer."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    design = lambda v: np.hstack([(v - mean) / std, np.ones((len(v), 1))])
    z, w = design(x), np.zeros(x.shape[1] + 1)
    penalty = strength * np.eye(len(w))
    penalty[-1, -1] = 0
    for _ in range(100):
        p = 1 / (1 + np.exp(-z @ w))
        step = np.linalg.solve((z * (p * (1 - p))[:, None]).T @ z + penalty,
                               z.T @ (p - y) + penalty @ w)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return lambda v: design(v) @ w


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("covers_v1")
    parser.add_argument("pop_v1")
    parser.add_argument("model")
    parser.add_argument("--weights", default=".deps/weights/efficientnet-lite0.pth")
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    found = covers(args.covers_v1, args.pop_v1)
    paths = [p for p, _ in found]
    positive = np.array([g == "pop" for _, g in found])
    logits, pooled = shipped_views(args.model, paths)
    views = {"shipped model's 12 logits": logits, "shipped model's pooled 1,280 features": pooled,
             "ImageNet Lite0's pooled 1,280 features": imagenet_view(args.weights, paths)}
    print(f"{len(paths)} covers, {positive.sum()} Pop; Pop against the rest, ROC AUC on the "
          f"other half, {args.seeds} random halves (mean, lowest, highest):")
    rng = np.random.default_rng(0)
    halves = [rng.permutation(len(paths)) for _ in range(args.seeds)]
    for name, x in views.items():
        best = []
        for order in halves:
            fit, score = order[:len(order) // 2], order[len(order) // 2:]
            best.append(max(auc(logistic(x[fit], positive[fit], s)(x[score]), positive[score])
                            for s in STRENGTHS))
        print(f"  {name:<42} {np.mean(best):.3f} ({min(best):.3f}, {max(best):.3f})")


if __name__ == "__main__":
    main()
