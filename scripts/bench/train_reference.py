"""Reference training throughput for the study's `baseline` CNN at 128x128, batch 32, two threads.

Keras on TensorFlow (the study's stack, `model.fit` on float32 arrays) and the same model in
PyTorch (plain, channels-last, and channels-last with bf16 autocast). Images are decoded and resized once up front, as the study did,
so these numbers are pure training-step throughput. Prints one JSON line per framework.

Usage: python train_reference.py COVERS_DIR [--images N] [--epochs E] [--only keras|torch]
"""
import argparse, json, os, pathlib, sys, time

import numpy as np
from PIL import Image

GENRES = ["alternative-rock", "christian", "classical", "country", "dance-electronic", "folk",
          "jazz", "latin-music", "metal", "r-and-b", "rap-hip-hop", "reggae"]


def load(root, limit):
    paths = sorted((pathlib.Path(root) / "train").glob("*/*.jpg"))[:limit]
    x = np.stack([np.asarray(Image.open(p).convert("RGB").resize((128, 128), Image.BILINEAR)) for p in paths])
    y = np.array([GENRES.index(p.parent.name) for p in paths])
    return x.astype(np.float32) / 255.0, y


def keras_throughput(x, y, epochs):
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)
    from tensorflow.keras import layers, models
    model = models.Sequential([
        layers.Input((128, 128, 3)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(12),
    ])
    model.compile(optimizer="adam", loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:256], y[:256], batch_size=32, epochs=1, verbose=0)  # warm-up: graph tracing
    start = time.perf_counter()
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    return len(x) * epochs / (time.perf_counter() - start)


def torch_throughput(x, y, epochs, channels_last, bf16=False):
    import torch
    from torch import nn
    from torch_epochs import images_per_second
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(28 * 28 * 64, 64), nn.ReLU(), nn.Linear(64, 12),
    )
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    return images_per_second(model, opt, xt, torch.from_numpy(y), epochs, bf16)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("covers")
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--only", choices=["keras", "torch"])
    args = ap.parse_args()
    x, y = load(args.covers, args.images)
    if args.only in (None, "keras"):
        print(json.dumps({"framework": "keras-tf", "img_per_s": keras_throughput(x, y, args.epochs)}), flush=True)
    if args.only in (None, "torch"):
        for name, cl, bf16 in (("pytorch", False, False), ("pytorch-channels-last", True, False),
                               ("pytorch-channels-last-bf16-autocast", True, True)):
            ips = torch_throughput(x, y, args.epochs, cl, bf16)
            print(json.dumps({"framework": name, "img_per_s": ips}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
