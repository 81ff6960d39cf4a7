#!/usr/bin/env python3
"""The Python way to classify covers, for scripts/bench-classify.sh and bench-library.sh to
compare against: Pillow decodes and resizes in worker processes while onnxruntime runs batches
in the main one.

    bench_classify.py MODEL DIR OUT.csv [--workers 2] [--threads 2] [--batch 32]
                      [--library] [--draft] [--decode-only]

--library: one cover per album folder, as covergenre-classify --library picks it (cover.jpg,
folder.jpg, front.jpg, ... else the picture embedded in the first audio file that has one, read
with mutagen from the tags only). --draft: Pillow's Image.draft() decodes JPEGs at 1/2, 1/4 or
1/8 size inside libjpeg-turbo, the way to do it well. --decode-only: no model run (MODEL is
still read for the input size), to time decoding alone.
"""
import argparse
import csv
import io
import json
import multiprocessing
import os
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}
AUDIO = {".mp3", ".flac", ".m4a", ".mp4", ".ogg", ".opus"}
COVER_NAMES = ["cover", "folder", "front", "albumart"]
SIZE = None
DRAFT = False


def covers(root):
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() in EXTENSIONS and not name.startswith("."):
                yield os.path.join(folder, name)


def albums(root):
    """(album folder, cover file or None, audio files) for every folder with a cover or audio."""
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs.sort()
        files = sorted(f for f in files if not f.startswith("."))
        named = [
            (COVER_NAMES.index(os.path.splitext(f)[0].lower()), f)
            for f in files
            if os.path.splitext(f)[1].lower() in EXTENSIONS
            and os.path.splitext(f)[0].lower() in COVER_NAMES
        ]
        audio = [os.path.join(folder, f) for f in files if os.path.splitext(f)[1].lower() in AUDIO]
        if named:
            yield folder, os.path.join(folder, min(named)[1]), audio
        elif audio:
            yield folder, None, audio


def embedded_picture(audio_files):
    """The front cover (else the first picture) of the first audio file that has one."""
    import mutagen
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3

    for path in audio_files:
        try:
            extension = os.path.splitext(path)[1].lower()
            if extension == ".mp3":
                pictures = [(f.type, f.data) for f in ID3(path).getall("APIC")]
            elif extension == ".flac":
                pictures = [(p.type, p.data) for p in FLAC(path).pictures]
            else:
                tags = mutagen.File(path)
                pictures = [(3, bytes(c)) for c in (tags.get("covr") or [])] if tags else []
        except Exception:
            continue
        if pictures:
            front = [data for kind, data in pictures if kind == 3]
            return (front or [pictures[0][1]])[0]
    raise ValueError("no cover image file and no embedded picture")


def init(size, draft):
    global SIZE, DRAFT
    SIZE, DRAFT = size, draft


def decode(source):
    with Image.open(source) as image:
        if DRAFT:
            image.draft("RGB", SIZE)
        return np.asarray(image.convert("RGB").resize(SIZE, Image.BILINEAR), dtype=np.uint8)


def load(path):
    try:
        return path, decode(path)
    except Exception as error:  # a bad file is reported, not fatal
        return path, str(error)


def load_album(album):
    folder, cover, audio = album
    try:
        return folder, decode(cover if cover else io.BytesIO(embedded_picture(audio)))
    except Exception as error:
        return folder, str(error)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("root")
    parser.add_argument("out")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--library", action="store_true")
    parser.add_argument("--draft", action="store_true")
    parser.add_argument("--decode-only", action="store_true")
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
        args.workers, initializer=init, initargs=(size, args.draft)
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

        if args.library:
            loaded = pool.imap(load_album, albums(args.root), chunksize=8)
        else:
            loaded = pool.imap(load, covers(args.root), chunksize=8)
        for path, image in loaded:
            if isinstance(image, str):
                failed += 1
                print(f"{path}: {image}", file=sys.stderr)
                continue
            if args.decode_only:
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
