#!/usr/bin/env python3
"""Adds a front cover to an audio file with mutagen, for the tests of covergenre's picture
reader (so the reader is never checked only on tags written by lofty): an ID3v2 APIC frame in
AIFF and WAV, an APEv2 `Cover Art (Front)` item in Monkey's Audio, WavPack and Musepack.

Usage: addpicture.py AUDIO_FILE PNG_FILE
"""
import sys

from mutagen.aiff import AIFF
from mutagen.apev2 import APEv2, APEValue, BINARY
from mutagen.id3 import APIC
from mutagen.wave import WAVE


def main():
    path, picture = sys.argv[1], sys.argv[2]
    with open(picture, "rb") as f:
        data = f.read()
    lower = path.lower()
    if lower.endswith((".aif", ".aiff", ".wav")):
        audio = AIFF(path) if not lower.endswith(".wav") else WAVE(path)
        if audio.tags is None:
            audio.add_tags()
        audio.tags.add(APIC(encoding=3, mime="image/png", type=3, desc="", data=data))
        audio.save()
    else:
        tag = APEv2()
        tag["Cover Art (Front)"] = APEValue(b"cover.png\x00" + data, BINARY)
        tag.save(path)


if __name__ == "__main__":
    main()
