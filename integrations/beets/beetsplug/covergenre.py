"""covergenre for beets: album genres from cover art.

The plugin asks ``covergenre-classify`` (the covergenre toolkit's classifier) for the genre
of every selected album in ONE run: it lists the albums' folders on the classifier's stdin
(``--library --albums-from -``), reads one JSON line per album back
(``--format jsonl``), and sets the album's ``genres`` and ``covergenre_probability`` in
beets' database, writing the files when beets writes tags. beets stays the only writer of
the library: the classifier only reads covers.

With ``artist_context: yes`` (the default) it also lists every album of the beets library
with its ``albumartist`` and ``genres`` (``--artist-context FILE``), so an album's artist's
other albums with genres weigh in its genres, as much as the library's artists keep their
genre; ``artist_context: no`` proposes from the cover alone.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field

import confuse
from beets import ui
from beets.dbcore import types
from beets.plugins import BeetsPlugin

PROBABILITY = "covergenre_probability"
GENRE_STYLES = ("name", "slug")
INSTALL_HINT = (
    "install covergenre (from its source: `scripts/setup.sh --classify && cargo install "
    "--path .`), or set `covergenre.command` to the path of covergenre-classify"
)
# covergenre-classify's exit codes: everything classified / some albums could not be.
EXIT_OK = 0
EXIT_SOME_FAILED = 3


class ClassifyError(Exception):
    """covergenre-classify could not run, or failed as a whole: no album is changed."""


@dataclass
class Request:
    """One album to classify: the folder results are named by, and where its cover is."""

    folder: bytes
    cover: bytes | None = None

    @property
    def key(self) -> str:
        """How covergenre-classify names the album in its output (lossy for non-UTF-8
        names, as Rust's path display is)."""
        return self.folder.decode("utf-8", "replace")

    def line(self) -> bytes:
        """The album's line of the list given to ``--albums-from``."""
        if self.cover is None:
            return self.folder + b"\n"
        return self.folder + b"\t" + self.cover + b"\n"


@dataclass
class Summary:
    """What a run did, for the closing line."""

    changed: int = 0
    unchanged: int = 0
    left_alone: dict[str, int] = field(default_factory=dict)
    failed: int = 0

    def leave(self, reason: str) -> None:
        self.left_alone[reason] = self.left_alone.get(reason, 0) + 1

    def line(self, pretend: bool) -> str:
        verb = "would change" if pretend else "changed"
        alone = sum(self.left_alone.values())
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.left_alone.items()))
        parts = [
            f"{self.changed} album(s) {verb}",
            f"{self.unchanged} unchanged",
            f"{alone} left alone" + (f" ({reasons})" if reasons else ""),
            f"{self.failed} failed",
        ]
        return "covergenre: " + ", ".join(parts)


def album_folder(album) -> bytes | None:
    """The album's folder: the deepest folder holding all its tracks (so a multi-disc album
    in ``CD1/``, ``CD2/`` is its parent, as covergenre sees it); None without tracks."""
    folders = {os.path.dirname(item.path) for item in album.items()}
    if not folders:
        return None
    return os.path.commonpath(sorted(folders))


def request_for(album) -> Request | None:
    """What to ask about an album: its folder, and ``album.artpath`` as the cover when that
    file lies outside the folder (inside it, or without an art path, covergenre finds the
    cover itself by its front-cover rule, exactly as ``covergenre-classify --library`` does:
    cover names such as ``00 - front.jpg``, then an image named after the album, then the
    only image, never a back or booklet page, else the picture in the tracks); None for an
    album without tracks."""
    folder = album_folder(album)
    if folder is None:
        return None
    art = album.artpath
    if art and os.path.commonpath([folder, art]) != folder:
        return Request(folder, art)
    return Request(folder)


def classify_command(config, count: int) -> list[str]:
    """The one covergenre-classify command line of a run, ranking ``count`` genres."""
    command = shlex.split(config["command"].as_str())
    if not command:
        raise ClassifyError("covergenre.command is empty; " + INSTALL_HINT)
    command += ["--library", "--format", "jsonl", "--albums-from", "-", "--top-k", str(count)]
    if config["model"].get():
        # Relative to beets' configuration folder, like beets' other file options.
        command += ["--model", config["model"].as_filename()]
    threads = config["threads"].get(confuse.Optional(int))
    if threads is not None:
        if threads < 1:
            raise ClassifyError(f"covergenre.threads must be 1 or more, not {threads}")
        command += ["--threads", str(threads)]
    return command


def artist_lines(albums) -> bytes:
    """The ``--artist-context`` list: one JSON line per album of the beets library with tracks,
    its folder (named as covergenre-classify names it), album artist and genres."""
    lines = []
    for album in albums:
        folder = album_folder(album)
        if folder is None:
            continue
        artist = album.albumartist or None
        if album.get("comp"):
            artist = None  # a compilation has no artist here
        line = {"folder": folder.decode("utf-8", "replace"), "artist": artist, "genres": list(album.genres or [])}
        lines.append(json.dumps(line))
    return ("\n".join(lines) + "\n").encode("utf-8")


def run_classify(command: list[str], requests: list[Request]) -> tuple[dict, str]:
    """Runs the classifier once over every request. Returns its records by album key and
    its stderr (which names each album it could not classify)."""
    stdin = b"".join(r.line() for r in requests)
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, check=False)
    except OSError as error:
        raise ClassifyError(f"cannot run {command[0]}: {error.strerror}; {INSTALL_HINT}")
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode not in (EXIT_OK, EXIT_SOME_FAILED):
        detail = stderr.strip() or f"exit status {done.returncode}"
        raise ClassifyError(f"{command[0]} failed: {detail}")
    records = {}
    for number, line in enumerate(done.stdout.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            records[record["path"]] = record
        except (ValueError, KeyError, TypeError) as error:
            raise ClassifyError(
                f"{command[0]} wrote an unreadable result on line {number}: {error}"
            )
    return records, stderr


def failure_reason(request: Request, stderr: str) -> str:
    """Why the classifier gave no result for an album: its own message, when it wrote one
    (``covergenre-classify: FOLDER: REASON``)."""
    prefix = f"covergenre-classify: {request.key}: "
    for line in stderr.splitlines():
        if line.startswith(prefix):
            return line[len(prefix) :]
    return "covergenre-classify gave no result for it"


@dataclass
class Settings:
    """The options that decide which genres an album gets, checked once per run."""

    count: int
    min_confidence: float
    style: str

    @classmethod
    def of(cls, config) -> Settings:
        count = config["count"].get(int)
        if count < 1:
            raise ClassifyError(f"covergenre.count must be 1 or more, not {count}")
        bar = config["min_confidence"].as_number()
        if not 0 <= bar <= 1:
            raise ClassifyError(f"covergenre.min_confidence must be between 0 and 1, not {bar}")
        return cls(count, bar, config["genre_style"].as_choice(GENRE_STYLES))

    def genres(self, record: dict) -> list[str]:
        """The record's top ``count`` genres whose probability is at least
        ``min_confidence``, best first (none when even the best is under it)."""
        top = [t for t in record["top"] if t["probability"] >= self.min_confidence]
        key = "genre" if self.style == "slug" else "name"
        return [t.get(key) or t["genre"] for t in top[: self.count]]


class CoverGenrePlugin(BeetsPlugin):
    """``beet covergenre``, and on import with ``auto: yes``."""

    album_types = {PROBABILITY: types.Float(3)}
    item_types = {PROBABILITY: types.Float(3)}

    def __init__(self) -> None:
        super().__init__()
        self.config.add(
            {
                "command": "covergenre-classify",
                "model": None,
                "count": 1,
                "min_confidence": 0.5,
                "force": False,
                "auto": False,
                "threads": None,
                "genre_style": "name",
                "artist_context": True,
            }
        )
        if self.config["auto"].get(bool):
            # At album_imported the album is stored and fetchart has set its art (it does
            # so in import_task_files, which comes first).
            self.register_listener("album_imported", self.imported)

    def commands(self) -> list[ui.Subcommand]:
        command = ui.Subcommand("covergenre", help="set album genres from their cover art")
        command.parser.add_option(
            "-p", "--pretend", action="store_true", help="show all changes but do nothing"
        )
        command.parser.add_option(
            "-f",
            "--force",
            action="store_true",
            default=None,
            help="replace the genres albums already have",
        )
        command.parser.usage += " [QUERY]"
        command.parser.epilog = (
            "Examples: 'beet covergenre -p' shows what it would set; 'beet covergenre -f "
            "albumartist:Miles' replaces the genres of the matching albums."
        )
        command.func = self.command
        return [command]

    def command(self, lib, opts, args) -> None:
        force = opts.force or self.config["force"].get(bool)
        albums = list(lib.albums(args))
        try:
            summary = self.process(albums, force=force, pretend=opts.pretend, lib=lib)
        except ClassifyError as error:
            raise ui.UserError(f"covergenre: {error}; no album was changed")
        ui.print_(summary.line(opts.pretend))

    def imported(self, lib, album) -> None:
        try:
            summary = self.process([album], force=self.config["force"].get(bool), lib=lib)
        except ClassifyError as error:
            self._log.error("{}: {}; its genres are unchanged", album, error)
            return
        self._log.info("{}", summary.line(False))

    def process(self, albums, force: bool, pretend: bool = False, lib=None) -> Summary:
        """Classifies the albums in one run and sets, stores and writes their genres; with
        ``artist_context``, every album of ``lib`` (else the albums given) is listed with its
        album artist and genres."""
        settings = Settings.of(self.config)
        summary = Summary()
        todo = self.select(albums, force, summary)
        if not todo:
            return summary
        requests = [request for _, request in todo]
        command = classify_command(self.config, settings.count)
        with tempfile.TemporaryDirectory(prefix="covergenre-") as folder:
            if self.config["artist_context"].get(bool):
                listed = os.path.join(folder, "artists.jsonl")
                with open(listed, "wb") as f:
                    f.write(artist_lines(lib.albums() if lib is not None else albums))
                command += ["--artist-context", listed]
            records, stderr = run_classify(command, requests)
        for album, request in todo:
            record = records.get(request.key)
            if record is None:
                self._log.warning("{}: {}", album, failure_reason(request, stderr))
                summary.failed += 1
            else:
                self.settle(album, record, settings, summary, pretend)
        return summary

    def select(self, albums, force: bool, summary: Summary) -> list[tuple]:
        """The albums to classify, with their requests; the others are counted as left alone."""
        todo = []
        for album in albums:
            if album.genres and not force:
                self._log.debug("{}: has genres {}, left alone", album, album.genres)
                summary.leave("with genres (-f replaces them)")
            elif (request := request_for(album)) is None:
                self._log.warning("{}: has no tracks, left alone", album)
                summary.leave("without tracks")
            else:
                todo.append((album, request))
        return todo

    def settle(self, album, record: dict, settings: Settings, summary: Summary, pretend: bool):
        """Sets an album's genres from its record, shows the change the way beets does and,
        unless pretending, stores and writes it."""
        genres = settings.genres(record)
        best = record["top"][0]
        if not genres:
            self._log.info(
                "{}: uncertain (best {} {:.3f} < {})",
                album,
                best.get("name") or best["genre"],
                best["probability"],
                settings.min_confidence,
            )
            summary.leave("uncertain")
            return
        album.genres = genres
        album[PROBABILITY] = best["probability"]
        if not ui.show_model_changes(album, fields=["genres", PROBABILITY]):
            summary.unchanged += 1
        elif pretend or self.store(album, ui.should_write()):
            summary.changed += 1
        else:
            summary.failed += 1

    def store(self, album, write: bool) -> bool:
        """Stores the album (its tracks inherit the fields) and writes the tracks' tags when
        beets writes tags; False when a file could not be written."""
        album.store()
        written = True
        if write:
            for item in album.items():
                written = item.try_write() and written
                item.store()  # the write changed the file's mtime, which beets records
        return written
