"""A made-up music library for the artist-context benchmark (scripts/bench-artist.sh), and the
measure of a tagging plan made on it.

make: ALBUMS albums from covers-v1 covers the shipped model never trained on (dev and test,
used again in turn when there are more albums than covers), grouped into artists of 1 to 8
albums. Each artist has a genre; each of its albums keeps it with probability C, else takes a
genre drawn at random from all of them. TAGGED of the albums carry their genre. An album is
`Artist NNNN/Album K/` with cover.jpg and one MP3 (an ID3v2.3 tag: TPE2 and TPE1 the artist,
TCON the genre's display name when tagged; then silent MPEG frames). truth.json records each
album's genre and whether it is tagged.

score: reads the JSON plan (`covergenre-classify --library --tag --format json
--min-confidence 0`) and truth.json, and prints one JSON line: first-genre accuracy on the
untagged albums with the artist (the plan's proposal) and without (the cover's own best, which
the plan's `artist.cover` keeps), the agreement the plan measured, and the answers a scripted
owner (answering with the truth) needs in --interactive to tag every untagged album right,
album by album and with `Same for the N other albums? [y/N]`.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import sys
from pathlib import Path

MUMU = {
    "alternative-rock": "Alternative Rock",
    "christian": "Christian",
    "classical": "Classical",
    "country": "Country",
    "dance-electronic": "Dance & Electronic",
    "folk": "Folk",
    "jazz": "Jazz",
    "latin-music": "Latin Music",
    "metal": "Metal",
    "r-and-b": "R&B",
    "rap-hip-hop": "Rap & Hip-Hop",
    "reggae": "Reggae",
}


def fold(text: str) -> str:
    return "".join(c for c in text.lower().replace("&", "and") if c.isalnum())


def id3_frame(frame_id: bytes, text: str) -> bytes:
    body = b"\x03" + text.encode("utf-8")  # UTF-8 (ID3v2.4's encoding 3; mutagen and lofty read it)
    return frame_id + len(body).to_bytes(4, "big") + b"\x00\x00" + body


def mp3(artist: str, title: str, genre: str | None) -> bytes:
    frames = id3_frame(b"TIT2", title) + id3_frame(b"TPE1", artist) + id3_frame(b"TPE2", artist)
    if genre:
        frames += id3_frame(b"TCON", genre)
    size = len(frames)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    header = b"ID3\x04\x00\x00" + syncsafe
    frame = bytes([0xFF, 0xFB, 0x90, 0x00]) + bytes(413)
    return header + frames + frame * 4


def make(data: Path, root: Path, albums: int, keep: float, tagged: float, seed: int) -> None:
    rng = random.Random(seed)
    covers: dict[str, list[Path]] = {}
    with open(data / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["split"] in ("dev", "test"):
                covers.setdefault(row["genre"], []).append(data / row["file"])
    genres = sorted(covers)
    for files in covers.values():
        rng.shuffle(files)
    next_cover = {g: 0 for g in genres}
    truth = {}
    made = 0
    artist = 0
    if root.exists():
        shutil.rmtree(root)
    while made < albums:
        artist += 1
        name = f"Artist {artist:04d}"
        own = rng.choice(genres)
        for k in range(min(rng.randint(1, 8), albums - made)):
            genre = own if rng.random() < keep else rng.choice(genres)
            cover = covers[genre][next_cover[genre] % len(covers[genre])]
            next_cover[genre] += 1
            is_tagged = rng.random() < tagged
            folder = root / name / f"Album {k + 1}"
            folder.mkdir(parents=True)
            shutil.copyfile(cover, folder / "cover.jpg")
            value = MUMU.get(genre, genre) if is_tagged else None
            (folder / "01.mp3").write_bytes(mp3(name, f"{name} {k + 1}", value))
            truth[f"{name}/Album {k + 1}"] = {"genre": genre, "tagged": is_tagged, "artist": name}
            made += 1
    (root.parent / "truth.json").write_text(json.dumps(truth))


def scripted_answers(untagged: list[dict]) -> tuple[int, int]:
    """Answers to tag every untagged album right: album by album (one each), and artist by
    artist with the follow-up (after each answer that tags an album, `y` when every album of
    the artist still to be asked has the same genre, else `N`)."""
    by_artist: dict[str, list[str]] = {}
    for album in untagged:
        by_artist.setdefault(album["artist"], []).append(album["genre"])
    with_followup = 0
    for genres in by_artist.values():
        rest = list(genres)
        while rest:
            first, rest = rest[0], rest[1:]
            with_followup += 1  # the album's own answer
            if rest:
                with_followup += 1  # y or N
                if all(g == first for g in rest):
                    rest = []
    return len(untagged), with_followup


def score(plan_path: Path, truth_path: Path, root: Path, keep: float) -> dict:
    plan = json.loads(plan_path.read_text())
    truth = json.loads(truth_path.read_text())
    with_artist = without = untagged = 0
    for album in plan["albums"]:
        known = truth.get(album["album"])
        if known is None or known["tagged"]:
            continue
        untagged += 1
        right = fold(MUMU[known["genre"]])
        proposal = album["top"][0]["value"] if album["top"] else ""
        cover = (album.get("artist") or {}).get("cover", {}).get("value", proposal)
        with_artist += fold(proposal) == right
        without += fold(cover) == right
    rows = [t for t in truth.values() if not t["tagged"]]
    alone, followup = scripted_answers(rows)
    artists = plan.get("artists") or {}
    return {
        "c": keep,
        "albums": len(plan["albums"]),
        "untagged": untagged,
        "accuracy_cover_alone": round(without / max(untagged, 1), 4),
        "accuracy_with_artist": round(with_artist / max(untagged, 1), 4),
        "agreement": artists.get("agreement"),
        "leave_one_out": artists.get("check"),
        "changed": artists.get("changed"),
        "answers_album_by_album": alone,
        "answers_with_same_for_artist": followup,
    }


if __name__ == "__main__":
    if sys.argv[1] == "make":
        _, _, data, root, albums, keep, tagged, seed = sys.argv
        make(Path(data), Path(root), int(albums), float(keep), float(tagged), int(seed))
    else:
        _, _, plan, truth, root, keep = sys.argv
        print(json.dumps(score(Path(plan), Path(truth), Path(root), float(keep))))
