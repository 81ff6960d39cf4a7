#!/usr/bin/env python3
"""A music library for scripts/bench-library.sh, made from covers-v1: ALBUMS album folders, each
cover upscaled (Lanczos) to 1000x1000 px, every fourth to 1400x1400, saved as JPEG quality 90.
Even albums have a cover.jpg (and 10 tracks without art); odd ones have the cover only embedded
in their 10 tracks, MP3 and FLAC in turn. Every track is 3 s of a generated tone (real MPEG /
FLAC frames, written by libsndfile) padded to PAD_MB megabytes.

Disk: the padding is a hole (a sparse file: reads give zeros, no blocks are used) and an album's
10 tracks are hard links to one file, so 2,000 albums take about 0.5 GB while their tracks add
up to ALBUMS / 2 * 10 * PAD_MB of audio as seen by readers.

    make_library.py COVERS_DIR OUT_DIR [--albums 2000] [--pad-mb 5]
"""
import argparse
import io
import os

import numpy as np
import soundfile
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3
from PIL import Image

TRACKS = 10


def covers(root):
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        found += [os.path.join(folder, f) for f in sorted(files) if f.lower().endswith(".jpg")]
    return found


def upscaled_jpeg(path, size):
    out = io.BytesIO()
    with Image.open(path) as image:
        image.convert("RGB").resize((size, size), Image.LANCZOS).save(out, "JPEG", quality=90)
    return out.getvalue()


def tone(path, kind, seed):
    rate = 44100
    t = np.arange(rate * 3) / rate
    wave = (0.3 * np.sin(2 * np.pi * (220 + 20 * (seed % 12)) * t)).astype("float32")
    soundfile.write(path, np.c_[wave, wave], rate, format=kind.upper())


def track(path, kind, seed, cover, pad_bytes):
    tone(path, kind, seed)
    if cover is not None and kind == "mp3":
        tag = ID3()
        tag.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="Cover", data=cover))
        tag.save(path)
    elif cover is not None:
        flac = FLAC(path)
        picture = Picture()
        picture.type, picture.mime, picture.data = 3, "image/jpeg", cover
        flac.add_picture(picture)
        flac.save()
    # Pad with a hole: readers see zeros after the audio, the disk stores nothing.
    with open(path, "r+b") as f:
        f.truncate(max(pad_bytes, os.path.getsize(path)))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("covers")
    parser.add_argument("out")
    parser.add_argument("--albums", type=int, default=2000)
    parser.add_argument("--pad-mb", type=float, default=5)
    args = parser.parse_args()
    sources = covers(args.covers)[: args.albums]
    if len(sources) < args.albums:
        raise SystemExit(f"only {len(sources)} covers in {args.covers}")
    pad = int(args.pad_mb * 1e6)
    os.makedirs(args.out, exist_ok=True)
    bare = {}
    for kind in ("mp3", "flac"):
        bare[kind] = os.path.join(args.out, f".bare.{kind}")
        track(bare[kind], kind, 0, None, pad)
    for i, source in enumerate(sources):
        album = os.path.join(args.out, f"artist-{i // 10:03d}", f"album-{i:04d}")
        os.makedirs(album, exist_ok=True)
        cover = upscaled_jpeg(source, 1400 if i % 4 == 0 else 1000)
        kind = "mp3" if i % 4 in (0, 1) else "flac"
        if i % 2 == 0:
            with open(os.path.join(album, "cover.jpg"), "wb") as f:
                f.write(cover)
            first = bare[kind]
        else:
            first = os.path.join(album, f"01 track.{kind}")
            track(first, kind, i, cover, pad)
        for n in range(1, TRACKS + 1):
            name = os.path.join(album, f"{n:02d} track.{kind}")
            if name != first:
                os.link(first, name)
    print(f"{len(sources)} albums in {args.out}")


if __name__ == "__main__":
    main()
