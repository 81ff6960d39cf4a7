"""Made-up media for the plugin's tests: covers in a colour (PNG, written here), audio files
with real audio frames (silent MPEG-1 Layer III frames; FLAC frames of CONSTANT subframes with
their CRCs) tagged with mutagen, and the colour model: a real ONNX model in which a cover's
dominant colour decides its genre, so tests can assert exact genres."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import onnx
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, TALB, TCON, TIT2, TPE1, TPE2, TRCK
from onnx import TensorProto, helper

# The colour model's genres: red -> metal, green -> jazz, blue -> rap-hip-hop (whose display
# name, "Rap & Hip-Hop", differs from its slug).
GENRES = ["metal", "jazz", "rap-hip-hop"]
NAMES = {"metal": "Metal", "jazz": "Jazz", "rap-hip-hop": "Rap & Hip-Hop"}
RED, GREEN, BLUE = (220, 35, 40), (35, 210, 40), (35, 40, 220)
GREY = (120, 120, 120)  # a third each: uncertain
# Mostly red, some green: about 0.77 metal and 0.23 jazz.
RED_AND_GREEN = (200, 185, 40)


def png(colour: tuple[int, int, int], size: int = 32) -> bytes:
    """A square PNG of `colour` with a little texture (so it is no flat test card)."""

    def pixel(x: int, y: int) -> bytes:
        return bytes(min(255, c + (x + y) % 5) for c in colour)

    rows = b"".join(b"\0" + b"".join(pixel(x, y) for x in range(size)) for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# ---- audio ----


def mp3_frames(count: int = 20) -> bytes:
    """Silent MPEG-1 Layer III frames, 128 kbit/s at 44.1 kHz (417 bytes each)."""
    frame = bytes([0xFF, 0xFB, 0x90, 0x00]) + bytes(413)
    return frame * count


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def flac_stream(frames: int = 6, block: int = 192) -> bytes:
    """A FLAC stream: STREAMINFO (the last metadata block) and `frames` stereo 16-bit frames
    of CONSTANT subframes at a slowly changing level."""
    total = block * frames
    packed = (44_100 << 44) | (1 << 41) | (15 << 36) | total
    streaminfo = struct.pack(">HH", block, block) + bytes(6) + struct.pack(">Q", packed)
    streaminfo += bytes(16)  # no MD5
    out = b"fLaC" + bytes([0x80]) + len(streaminfo).to_bytes(3, "big") + streaminfo
    for number in range(frames):
        # Sync, fixed blocking; 192 samples at 44.1 kHz; L/R stereo, 16 bits; frame number.
        frame = bytes([0xFF, 0xF8, 0x19, 0x18, number])
        frame += bytes([_crc8(frame)])
        frame += (b"\0" + struct.pack(">h", number * 100)) * 2
        out += frame + struct.pack(">H", _crc16(frame))
    return out


def write_track(
    path: Path,
    title: str,
    album: str,
    artist: str,
    track: int,
    genres: list[str] | None = None,
    picture: bytes | None = None,
) -> None:
    """An MP3 or FLAC track (by extension) with real frames, tags and an embedded front
    cover when `picture` (PNG bytes) is given."""
    if path.suffix == ".flac":
        path.write_bytes(flac_stream())
        audio = FLAC(path)
        audio.update({"title": title, "album": album, "artist": artist})
        audio["albumartist"] = artist
        audio["tracknumber"] = str(track)
        if genres:
            audio["genre"] = genres
        if picture:
            cover = Picture()
            cover.type, cover.mime, cover.data = 3, "image/png", picture
            audio.add_picture(cover)
        audio.save()
        return
    path.write_bytes(mp3_frames())
    tags = ID3()
    tags.add(TIT2(encoding=3, text=title))
    tags.add(TALB(encoding=3, text=album))
    tags.add(TPE1(encoding=3, text=artist))
    tags.add(TPE2(encoding=3, text=artist))
    tags.add(TRCK(encoding=3, text=str(track)))
    if genres:
        tags.add(TCON(encoding=3, text=genres))
    if picture:
        tags.add(APIC(encoding=3, mime="image/png", type=3, desc="", data=picture))
    tags.save(path)


# ---- the colour model ----


def colour_model(path: Path, names: list[str] | None = None, size: int = 16) -> Path:
    """Writes the colour model: logits = 20 * mean colour (0..1 per channel), so the dominant
    channel wins and a pure colour gets over 0.99. It carries the metadata covergenre-classify
    reads (genres, input size, resize filter) and, given `names`, the owner's spellings of the
    genres (`genre_names`)."""
    gain = 20.0
    image = helper.make_tensor_value_info("image", TensorProto.UINT8, ["n", size, size, 3])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 3])
    probabilities = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", 3])
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [1], [gain / 255.0])
    nodes = [
        helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["pixels"], ["mean"], axes=[1, 2], keepdims=0),
        helper.make_node("Mul", ["mean", "scale"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "colour", [image], [probabilities, logits], initializer=[scale]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    props = {
        "genres": json.dumps(GENRES),
        "input_height": str(size),
        "input_width": str(size),
        "resize_filter": "bilinear",
    }
    if names:
        props["genre_names"] = json.dumps(names)
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
