#!/usr/bin/env python3
"""The Python way to classify covers, for scripts/bench-classify.sh to compare against:
Pillow decodes and resizes in worker processes while onnxruntime runs batches in the main one.

    bench_classify.py MODEL DIR OUT.csv [--workers 2] [--threads 2] [--batch 32]
"""
import argparse
import csv
import json
import multiprocessing
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}
SIZE = None


def covers(root):
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() in EXTENSIONS and not name.startswith("."):
                yield os.path.join(folder, name)


def init(size):
    global SIZE
    SIZE = size


def load(path):
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize(SIZE, Image.BILINEAR)
            return path, np.asarray(rgb, dtype=np.uint8)
    except Exception as error:  # a bad file is reported, not fatal
        return path, str(error)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("root")
    parser.add_argument("out")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    genres = json.loads(meta["genres"])
    size = (int(meta["input_width"]), int(meta["input_height"]))

    failed = 0
    with open(args.out, "w", newline="") as out, multiprocessing.Pool(
        args.workers, initializer=init, initargs=(size,)
    ) as pool:
        writer = csv.writer(out)
        writer.writerow(["path", "genre", "probability"])
        paths, images = [], []

        def flush():
            probabilities = session.run(["probabilities"], {"image": np.stack(images)})[0]
            for path, row in zip(paths, probabilities):
                best = int(row.argmax())
                writer.writerow([path, genres[best], float(row[best])])
            paths.clear()
            images.clear()

        for path, image in pool.imap(load, covers(args.root), chunksize=8):
            if isinstance(image, str):
                failed += 1
                print(f"{path}: {image}", file=sys.stderr)
                continue
            paths.append(path)
            images.append(image)
            if len(images) == args.batch:
                flush()
        if images:
            flush()
    return 3 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
