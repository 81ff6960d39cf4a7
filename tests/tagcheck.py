#!/usr/bin/env python3
"""Independent reader for the tagging tests: reads audio files with mutagen (not lofty, the
writer under test) and prints, per file, one JSON object: the format, every tag as text
(pictures as SHA-256 of their bytes; several values joined with "|"), the ID3v2 version of an
MP3 ("2.3", "2.4"), and a SHA-256 of the audio payload (MP3: the bytes after
the ID3v2 tag; FLAC: the frames after the metadata blocks; Ogg: the packets after the headers;
M4A: the samples found through stco/stsz; AIFF and WAV: every chunk but the ID3 one; APE, WavPack, Musepack: the bytes before the APEv2
tag), or the error that stopped mutagen.

Usage: tagcheck.py FILE...  (prints a JSON list)
"""
import hashlib
import io
import json
import os
import struct
import sys

import mutagen
from mutagen.aiff import AIFF
from mutagen.apev2 import APEv2File, _APEv2Data
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, Atoms
from mutagen.ogg import OggPage
from mutagen.wave import WAVE


def sha(data):
    return hashlib.sha256(data).hexdigest()


def text(value):
    if isinstance(value, (bytes, bytearray)):
        return "sha256:" + sha(bytes(value))
    if hasattr(value, "data") and isinstance(getattr(value, "data"), bytes):  # APIC, pictures
        return "picture:" + sha(value.data)
    if hasattr(value, "text"):  # ID3 text frames
        return "|".join(str(t) for t in value.text)
    if isinstance(value, (list, tuple)):
        return "|".join(text(v) for v in value)
    return str(value)


def mp3_payload(raw):
    start = 0
    if raw[:3] == b"ID3":
        size = 0
        for b in raw[6:10]:
            size = (size << 7) | (b & 0x7F)
        start = 10 + size + (10 if raw[5] & 0x10 else 0)
    end = len(raw) - (128 if raw[-128:-125] == b"TAG" else 0)
    return raw[start:end]


def flac_payload(raw):
    pos = 4
    while True:
        header = raw[pos]
        length = int.from_bytes(raw[pos + 1 : pos + 4], "big")
        pos += 4 + length
        if header & 0x80:
            return raw[pos:]


def ogg_payload(path):
    pages = []
    with open(path, "rb") as f:
        while True:
            try:
                pages.append(OggPage(f))
            except EOFError:
                break
    packets = OggPage.to_packets(pages)
    return b"".join(packets[2:])


def mp4_payload(path, raw):
    with open(path, "rb") as f:
        atoms = Atoms(f)
    stbl = atoms.path(b"moov", b"trak", b"mdia", b"minf", b"stbl")[-1]
    child = {a.name: a for a in stbl.children}

    def body(atom):
        return raw[atom.offset + 8 : atom.offset + atom.length]

    stco = body(child[b"stco"])
    offsets = struct.unpack(">%dI" % struct.unpack(">I", stco[4:8])[0], stco[8:])
    stsz = body(child[b"stsz"])
    count = struct.unpack(">I", stsz[8:12])[0]
    sizes = struct.unpack(">%dI" % count, stsz[12 : 12 + 4 * count])
    # One chunk holds every sample (as the tests write it).
    assert len(offsets) == 1, offsets
    start = offsets[0]
    return raw[start : start + sum(sizes)]


def iff_payload(raw, order):
    """Every chunk of an AIFF (big-endian sizes) or WAV file but its ID3 chunks."""
    end = min(8 + struct.unpack(order + "I", raw[4:8])[0], len(raw))
    at, kept = 12, [raw[8:12]]
    while at + 8 <= end:
        chunk_id, size = struct.unpack(order + "4sI", raw[at:at + 8])
        if chunk_id not in (b"ID3 ", b"id3 "):
            kept.append(chunk_id + raw[at + 8:at + 8 + size])
        at += 8 + size + size % 2
    return b"".join(kept)


def apev2_payload(raw):
    """The bytes before the APEv2 tag (before an ID3v1 tag when there is none)."""
    end = _APEv2Data(io.BytesIO(raw)).start
    if end is None:
        end = len(raw) - (128 if raw[-128:-125] == b"TAG" else 0)
    return raw[:end]


def describe(path):
    with open(path, "rb") as f:
        raw = f.read()
    audio = mutagen.File(path)
    if audio is None:
        raise ValueError("mutagen does not recognise the format")
    kind = type(audio).__name__
    tags = {}
    if audio.tags is not None:
        if isinstance(audio, (MP3, AIFF, WAVE)):
            for key, frame in audio.tags.items():
                tags[key] = text(frame)
        elif isinstance(audio, MP4):
            for key, value in audio.tags.items():
                tags[key] = text(value)
        else:
            for key, value in audio.tags.items():
                tags[key.lower()] = text(value)
    if isinstance(audio, FLAC):
        for i, picture in enumerate(audio.pictures):
            tags["flac-picture-%d" % i] = "picture:" + sha(picture.data)
    if isinstance(audio, MP3):
        payload = mp3_payload(raw)
    elif isinstance(audio, FLAC):
        payload = flac_payload(raw)
    elif isinstance(audio, MP4):
        payload = mp4_payload(path, raw)
    elif isinstance(audio, APEv2File):
        payload = apev2_payload(raw)
    elif isinstance(audio, (AIFF, WAVE)):
        payload = iff_payload(raw, ">" if isinstance(audio, AIFF) else "<")
    else:
        payload = ogg_payload(path)
    entry = {"format": kind, "tags": tags, "audio": sha(payload), "length": audio.info.length}
    if isinstance(audio, (MP3, AIFF, WAVE)) and audio.tags is not None:
        entry["id3"] = "2.%d" % audio.tags.version[1]
    return entry


def main():
    out = []
    for path in sys.argv[1:]:
        try:
            entry = describe(path)
        except Exception as error:  # noqa: BLE001 - every failure is reported, not raised
            entry = {"error": "%s: %s" % (type(error).__name__, error)}
        # Non-UTF-8 names would give JSON lone surrogates: show them lossily (callers match by order).
        entry["path"] = os.fsencode(path).decode("utf-8", "replace")
        out.append(entry)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
