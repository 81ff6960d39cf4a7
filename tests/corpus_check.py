#!/usr/bin/env python3
"""mutagen's view of audio files for the corpus test (tests/corpus_tags.rs), never the writer's.

Usage: corpus_check.py describe FILE...   one JSON object per file: its mutagen type ("kind"),
                                           every tag as text (tests/tagcheck.py's form), the key its
                                           genre is under, its stream info, and a SHA-256 of its
                                           audio; or the error that stopped mutagen
       corpus_check.py can-tag DIR FILE... whether mutagen can give each file a genre and save it
                                           (tried on a copy in DIR)
Prints a JSON list, in the order of the files.
"""
import hashlib
import io
import json
import os
import re
import shutil
import struct
import sys

import mutagen
from mutagen.apev2 import _APEv2Data
from mutagen.asf import ASF
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TCON, ID3Tags
from mutagen.mp4 import MP4
from mutagen.ogg import OggPage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tagcheck import text  # noqa: E402


def sha(data):
    return hashlib.sha256(data).hexdigest()


def open_any(path):
    """mutagen.File, or the bare ID3 tag of a file mutagen does not take for audio."""
    try:
        audio = mutagen.File(path)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        audio, failure = None, error
    else:
        failure = None if audio is not None else ValueError("mutagen does not recognise the format")
    if audio is not None:
        return type(audio).__name__, audio, audio.tags
    with open(path, "rb") as f:
        if f.read(3) == b"ID3":
            return "ID3", None, ID3(path)
    raise failure


def genre_key(kind, tags):
    if isinstance(tags, ID3Tags):
        return "TCON"
    return {"MP4": "\u00a9gen", "ASF": "WM/Genre"}.get(kind, "genre")


def id3_len(raw):
    if raw[:3] != b"ID3" or len(raw) < 10:
        return 0
    size = 0
    for b in raw[6:10]:
        size = (size << 7) | (b & 0x7F)
    return 10 + size + (10 if raw[3] == 4 and raw[5] & 0x10 else 0)


def flac_audio_offset(raw):
    """Where mutagen finds the audio: block sizes of comments and pictures read from content."""
    fileobj = io.BytesIO(raw)
    start = id3_len(raw) if raw[:3] == b"ID3" else 0
    fileobj.seek(start + 4)
    byte = 0
    while not byte & 0x80:
        byte = fileobj.read(1)[0]
        size = int.from_bytes(fileobj.read(3), "big")
        code = byte & 0x7F
        block = FLAC.METADATA_BLOCKS[code] if code < len(FLAC.METADATA_BLOCKS) else None
        if block is not None and block._distrust_size:
            block(fileobj)
        else:
            fileobj.read(size)
    return fileobj.tell()


def ogg_audio(raw, serial):
    """Every Ogg page but the tagged stream's headers (those at its start whose granule position
    is 0 or none), as its stream, granule position, flags and packets: what a comment edit must
    leave as it was, sequence numbers and checksums aside."""
    fileobj = io.BytesIO(raw)
    out = hashlib.sha256()
    in_headers = True
    while True:
        try:
            page = OggPage(fileobj)
        except EOFError:
            break
        if page.serial == serial and in_headers:
            if page.position in (0, -1):
                continue
            in_headers = False
        flags = (page.continued, page.first, page.last, page.complete)
        out.update(repr((page.serial, page.position, flags)).encode())
        out.update(b"".join(page.packets))
    return out.hexdigest()


def iff_audio(raw, order):
    """An AIFF or WAV file's form type, every chunk but the ID3 ones (id and data, in order) and
    the bytes after the root chunk: what a genre edit must leave as it was."""
    out = hashlib.sha256(raw[8:12])
    end = min(8 + struct.unpack(order + "I", raw[4:8])[0], len(raw))
    at = 12
    while at + 8 <= end:
        chunk_id, size = struct.unpack(order + "4sI", raw[at:at + 8])
        if chunk_id not in (b"ID3 ", b"id3 "):
            out.update(chunk_id + raw[at + 8:at + 8 + size])
        at += 8 + size + size % 2
    out.update(raw[at:])
    return out.hexdigest()


def apev2_audio(raw):
    """The bytes before the APEv2 tag, found as mutagen finds it (before an ID3v1 tag when
    there is none)."""
    end = _APEv2Data(io.BytesIO(raw)).start
    if end is None:
        end = len(raw) - (128 if raw[-128:-125] == b"TAG" else 0)
    return sha(raw[:end])


def audio_hash(kind, raw, audio):
    """The bytes after the tags mutagen reads first (None where this has no rule for the kind)."""
    if kind in ("MP3", "ID3"):
        return sha(raw[id3_len(raw):])
    if kind == "FLAC":
        return sha(raw[flac_audio_offset(raw):])
    if kind.startswith("Ogg") and hasattr(audio.info, "serial"):
        return ogg_audio(raw, audio.info.serial)
    if kind in ("MonkeysAudio", "WavPack", "Musepack"):
        return apev2_audio(raw)
    if kind in ("AIFF", "WAVE"):
        return iff_audio(raw, ">" if kind == "AIFF" else "<")
    return None


def describe(path):
    kind, audio, tags = open_any(path)
    with open(path, "rb") as f:
        raw = f.read()
    entry = {"kind": kind, "tags": {}, "genre_key": genre_key(kind, tags)}
    if tags is not None:
        lower = not isinstance(tags, ID3Tags) and kind not in ("MP4", "ASF")
        for key, value in tags.items():
            entry["tags"][key.lower() if lower else key] = text(value)
    if isinstance(audio, FLAC):
        for i, picture in enumerate(audio.pictures):
            entry["tags"]["flac-picture-%d" % i] = "picture:" + sha(picture.data)
    if isinstance(tags, ID3Tags):
        entry["id3"] = "2.%d" % tags.version[1]
    entry["info"] = audio.info.pprint() if audio is not None else None
    if kind == "Musepack":
        # mutagen derives a Musepack file's bitrate from its size, tags included.
        entry["info"] = re.sub(r", \d+ bps", "", entry["info"])
    entry["audio"] = audio_hash(kind, raw, audio)
    return entry


def can_tag(folder, path):
    copy = os.path.join(folder, os.path.basename(path))
    shutil.copyfile(path, copy)
    try:
        audio = mutagen.File(copy)
        if audio is None:
            return "mutagen does not recognise the format"
        if audio.tags is None:
            audio.add_tags()
        if isinstance(audio.tags, ID3Tags):
            audio.tags.add(TCON(encoding=3, text=["Rock"]))
        elif isinstance(audio, MP4):
            audio.tags["\u00a9gen"] = ["Rock"]
        elif isinstance(audio, ASF):
            audio.tags["WM/Genre"] = ["Rock"]
        else:
            audio.tags["genre"] = ["Rock"]
        audio.save()
        return None
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return "%s: %s" % (type(error).__name__, error)
    finally:
        os.remove(copy)


def main():
    mode, rest = sys.argv[1], sys.argv[2:]
    out = []
    if mode == "describe":
        for path in rest:
            try:
                out.append(describe(path))
            except Exception as error:  # noqa: BLE001 - every failure is reported
                out.append({"error": "%s: %s" % (type(error).__name__, error)})
    elif mode == "can-tag":
        folder, paths = rest[0], rest[1:]
        out = [{"refused": can_tag(folder, path)} for path in paths]
    else:
        sys.exit("usage: corpus_check.py describe FILE... | can-tag DIR FILE...")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
