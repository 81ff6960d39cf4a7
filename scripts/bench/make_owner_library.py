#!/usr/bin/env python3
"""An owner's music library for scripts/bench-learn.sh, made from covers-v1: ALBUMS album folders
whose tracks carry genres in an owner's spellings, the way a library tagged by hand over years
looks to `covergenre-train --data LIBRARY`.

- Covers: covers-v1 images (every split, a fixed shuffle), upscaled (Lanczos) to 1000x1000 px,
  JPEG quality 90. Albums in turn: cover.jpg; folder.jpg; Artwork/Front.jpg; embedded in the
  tracks only (MP3 APIC, FLAC and Ogg Vorbis pictures).
- Tracks: TRACKS per album, MP3, FLAC and Ogg Vorbis in turn (M4A needs an AAC encoder, which no
  wheel here ships), each 3 s of a generated tone (real MPEG / FLAC / Vorbis frames written by
  libsndfile); MP3 and FLAC tracks padded to PAD_MB megabytes as a hole (a sparse file: readers
  see zeros, the disk stores nothing), Ogg ones not (see track()). An album's tracks are hard links to one file, so they agree; every 50th album
  has one track of another genre (a minority that the majority outvotes), written apart.
  Every 40th album is two discs (CD1, CD2) with the cover at the album root.
- Genres: the covers-v1 genre in an owner's words (SPELLINGS below: "Hip-Hop", "Hip Hop" and
  "hip hop"; "Electronic; House" as a multi-valued value; "rock" and "Rock"), and UNTAGGED_SHARE
  of the albums without any genre.

Prints nothing but a summary; writes OUT_DIR/albums.csv (album folder, covers-v1 split, covers-v1
genre, genre written) for the benchmark's comparisons.

    make_owner_library.py COVERS_DIR OUT_DIR [--albums 2000] [--pad-mb 5] [--tracks 10]
        [--splits train,dev,test] [--held-out-share S] [--pop POP_DIR] [--artist-keeps C]

For accuracy (scripts/bench-learn.sh MODE=accuracy): --splits dev,test keeps the covers the
shipped model never trained on; --held-out-share S leaves the albums whose stable hash (the
library's own: FNV-1a of seed 42 and the album's path, as data::library splits) falls in the top
S of the range untagged, instead of a random UNTAGGED_SHARE; --pop adds the pop-v1 covers as
albums tagged "Pop" (a genre the shipped model lacks), the first --pop-albums of them when given.

Artists are the album folders' parents (`Artist NNN/Album NNNN`; the tracks name none). By
default ten albums of the shuffled covers go to each artist, so an artist says nothing of an
album's genre; --artist-keeps C groups them instead into artists of 1 to 8 albums whose albums
keep the artist's genre with probability C (for the artist context of `--tag`); with it,
--held-out-share S holds out each album with probability S (a seeded draw, not the stable hash:
see main()).
"""
import argparse
import base64
import csv
import os
import random

from make_library import tone, upscaled_jpeg  # the same covers and tones as bench-library's
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, TCON
from mutagen.oggvorbis import OggVorbis

UNTAGGED_SHARE = 0.18
KINDS = ("mp3", "flac", "ogg")
# covers-v1 genre -> the owner's spellings, used in turn (weights by repetition).
SPELLINGS = {
    "alternative-rock": ["Rock", "Rock", "Rock", "rock", "Alternative Rock"],
    "christian": ["Christian"],
    "classical": ["Classical", "Classical", "classical"],
    "country": ["Country"],
    "dance-electronic": ["Electronic", "Electronic", "Electronic; House", "electronic"],
    "jazz": ["Jazz"],
    "latin-music": ["Latin"],
    "metal": ["Metal", "Metal", "Heavy Metal"],
    "r-and-b": ["R&B", "RnB"],
    "rap-hip-hop": ["Hip-Hop", "Hip-Hop", "Hip-Hop", "Hip Hop", "hip hop"],
    "reggae": ["Reggae"],
    "pop": ["Pop"],
}


def stable_position(relative, seed=42):
    """Where an album falls in [0, 1) by the library's own stable hash (data::library::position)."""
    h = 0xCBF29CE484222325
    for b in seed.to_bytes(8, "little") + relative.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return (h >> 11) / float(1 << 53)


def covers(root, splits=("train", "dev", "test"), pop=None, pop_albums=None):
    """(split, genre, path) of every covers-v1 image of `splits` (and the first `pop_albums` of
    pop-v1's, as genre "pop"), in a fixed shuffled order."""
    found = []
    if pop:
        folder = os.path.join(pop, "pop")
        found += [("pop-v1", "pop", os.path.join(folder, f))
                  for f in sorted(os.listdir(folder)) if f.lower().endswith(".jpg")][:pop_albums]
    for split in splits:
        for genre in sorted(os.listdir(os.path.join(root, split))):
            folder = os.path.join(root, split, genre)
            found += [(split, genre, os.path.join(folder, f))
                      for f in sorted(os.listdir(folder)) if f.lower().endswith(".jpg")]
    random.Random(2026).shuffle(found)
    return found


def artists(sources, keep, rng):
    """The albums grouped into artists of 1 to 8 albums (--artist-keeps): each artist has a
    genre, drawn in proportion to the covers still unused so that every cover is used once, and
    each of its albums keeps it with probability `keep`, else takes a genre drawn at random (as
    scripts/bench/artist_library.py makes artists). Returns the artists' lists of sources."""
    by_genre = {}
    for source in sources:
        by_genre.setdefault(source[1], []).append(source)
    grouped = []
    while any(by_genre.values()):
        left = sorted(g for g, pool in by_genre.items() if pool)
        own = rng.choices(left, weights=[len(by_genre[g]) for g in left])[0]
        albums = []
        for _ in range(rng.randint(1, 8)):
            genre = own if rng.random() < keep else rng.choice(left)
            pool = by_genre[genre] or by_genre[own]
            if not pool:
                break
            albums.append(pool.pop())
        grouped.append(albums)
    return grouped


def picture(cover):
    p = Picture()
    p.type, p.mime, p.data = 3, "image/jpeg", cover
    return p


def tag(path, kind, genre, cover):
    """Writes the genre (when any) and the embedded cover (when any)."""
    if kind == "mp3":
        id3 = ID3()
        if genre:
            id3.add(TCON(encoding=3, text=[genre]))
        if cover:
            id3.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="Cover", data=cover))
        id3.save(path)
        return
    audio = FLAC(path) if kind == "flac" else OggVorbis(path)
    if genre:
        audio["genre"] = [genre]
    if cover and kind == "flac":
        audio.add_picture(picture(cover))
    elif cover:
        audio["metadata_block_picture"] = [base64.b64encode(picture(cover).write()).decode()]
    audio.save()


def track(path, kind, seed, genre, cover, pad_bytes):
    tone(path, kind, seed)
    tag(path, kind, genre, cover)
    # Ogg readers find the stream's end from the last page at the end of the file: zeros
    # after it make them fail (mutagen does), so Ogg tracks keep their real size.
    if kind != "ogg":
        with open(path, "r+b") as f:
            f.truncate(max(pad_bytes, os.path.getsize(path)))


def write_cover(album, i, cover):
    """The cover as a file, in turn cover.jpg, folder.jpg, Artwork/Front.jpg; None: embedded."""
    name = [os.path.join(album, "cover.jpg"), os.path.join(album, "folder.jpg"),
            os.path.join(album, "Artwork", "Front.jpg"), None][i % 4]
    if name:
        os.makedirs(os.path.dirname(name), exist_ok=True)
        with open(name, "wb") as f:
            f.write(cover)
    return name


def write_album(album, i, genre, minority, cover, args, pad):
    kind = KINDS[i % len(KINDS)]
    two_discs = i % 40 == 39
    # A two-disc album keeps its cover at the root (turn 0: cover.jpg).
    embedded = None if write_cover(album, 0 if two_discs else i, cover) else cover
    folders = [os.path.join(album, "CD1"), os.path.join(album, "CD2")] if two_discs else [album]
    names = [os.path.join(folder, f"{n:02d} track.{kind}")
             for folder in folders for n in range(1, args.tracks // len(folders) + 1)]
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
    track(names[0], kind, i, genre, embedded, pad)
    if minority:
        track(names[-1], kind, i + 1, minority, embedded, pad)
    for name in names[1:len(names) - (1 if minority else 0)]:
        os.link(names[0], name)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("covers")
    parser.add_argument("out")
    parser.add_argument("--albums", type=int, default=2000)
    parser.add_argument("--pad-mb", type=float, default=5)
    parser.add_argument("--tracks", type=int, default=10)
    parser.add_argument("--splits", default="train,dev,test")
    parser.add_argument("--held-out-share", type=float, default=None)
    parser.add_argument("--pop", default=None)
    parser.add_argument("--pop-albums", type=int, default=None)
    parser.add_argument("--artist-keeps", type=float, default=None)
    args = parser.parse_args()
    sources = covers(args.covers, args.splits.split(","), args.pop, args.pop_albums)[: args.albums]
    if len(sources) < args.albums:
        raise SystemExit(f"only {len(sources)} covers in {args.covers}")
    if args.artist_keeps is None:
        # Ten albums of the shuffled covers to an artist: artists say nothing of the genre.
        folders = [f"Artist {i // 10:03d}" for i in range(len(sources))]
    else:
        grouped = artists(sources, args.artist_keeps, random.Random(11))
        sources = [source for albums in grouped for source in albums]
        folders = [f"Artist {a:03d}" for a, albums in enumerate(grouped) for _ in albums]
    pad = int(args.pad_mb * 1e6)
    turns = {genre: 0 for genre in SPELLINGS}
    rng = random.Random(7)
    held_out_draw = random.Random(13)
    rows = []
    for i, (split, source_genre, source) in enumerate(sources):
        album = os.path.join(args.out, folders[i], f"Album {i:04d}")
        genre = None
        if args.held_out_share is not None and args.artist_keeps is not None:
            # Drawn per album: the stable hash (FNV-1a's top bits) hardly depends on the last
            # characters of a path, so it would hold out whole artists ("Album 0345" and
            # "Album 0346" fall together), leaving their albums no tagged album of their artist.
            tagged = held_out_draw.random() >= args.held_out_share
        elif args.held_out_share is not None:
            tagged = stable_position(os.path.relpath(album, args.out)) < 1 - args.held_out_share
        else:
            tagged = rng.random() >= UNTAGGED_SHARE
        if tagged:
            spellings = SPELLINGS[source_genre]
            genre = spellings[turns[source_genre] % len(spellings)]
            turns[source_genre] += 1
        minority = "Pop" if genre and i % 50 == 0 else None
        write_album(album, i, genre, minority, upscaled_jpeg(source, 1000), args, pad)
        rows.append((os.path.relpath(album, args.out), split, source_genre, genre or ""))
    with open(os.path.join(args.out, "albums.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["album", "covers_v1_split", "covers_v1_genre", "genre"])
        writer.writerows(rows)
    tagged = sum(1 for r in rows if r[3])
    print(f"{len(rows)} albums ({tagged} with a genre) in {args.out}")


if __name__ == "__main__":
    main()
