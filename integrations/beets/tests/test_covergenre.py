"""The covergenre plugin, tested the way beets tests its plugins (beets.test.helper), against
the real covergenre-classify and the colour model: albums of real audio files, with covers as
files and embedded in the tracks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ClassVar

import beets.plugins
import mutagen
import pytest
from beets import ui
from beets.library import Item
from beets.test.helper import ImporterMixin, IOMixin, PluginTestHelper

import media
from media import BLUE, GREEN, GREY, RED, RED_AND_GREEN

PROBABILITY = "covergenre_probability"


def file_genres(path) -> list[str]:
    """The genres in a file, read with mutagen (not with beets, the writer under test)."""
    audio = mutagen.File(os.fsdecode(path))
    if isinstance(audio, mutagen.flac.FLAC):
        return audio.get("genre", [])
    frame = audio.tags.get("TCON") if audio.tags else None
    return list(frame.text) if frame else []


def runs(log: Path) -> list[dict]:
    """The classify runs a recorder command saw."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


class CoverGenreTestCase(IOMixin, PluginTestHelper):
    plugin: ClassVar[str] = "covergenre"

    @pytest.fixture(autouse=True)
    def configured(self, setup, classifier, colour_model):
        """The real classifier and the colour model, two threads (set after beets' own
        set-up, which the `setup` fixture does)."""
        self.config["covergenre"].set(
            {"command": str(classifier), "model": str(colour_model), "threads": 2}
        )

    def add_album_of(
        self,
        name: str,
        cover=None,
        embedded=None,
        genres=None,
        ext: str = "mp3",
        tracks: int = 2,
        folder: Path | None = None,
        artist: str = "Made-up Artist",
    ):
        """An album of `tracks` real audio files in the library folder: `cover` (a colour) as
        cover.png beside them, `embedded` (a colour) as their front cover picture, `genres`
        in their tags (so beets reads them as the album's genres)."""
        folder = folder or self.lib_path / artist / name
        folder.mkdir(parents=True, exist_ok=True)
        if cover is not None:
            (folder / "cover.png").write_bytes(media.png(cover))
        picture = media.png(embedded) if embedded is not None else None
        items = []
        for number in range(1, tracks + 1):
            path = folder / f"{number:02d} Track.{ext}"
            media.write_track(
                path, f"Track {number}", name, artist, number, genres, picture
            )
            items.append(Item.from_path(os.fsencode(path)))
        return self.lib.add_album(items)

    def files_of(self, album) -> dict[str, bytes]:
        return {os.fsdecode(i.path): Path(os.fsdecode(i.path)).read_bytes() for i in album.items()}

    def state(self) -> list[tuple]:
        """Every album's and track's genres and probability, as stored."""
        albums = [(a.id, a.genres, a.get(PROBABILITY)) for a in self.lib.albums()]
        items = [(i.id, i.genres, i.get(PROBABILITY)) for i in self.lib.items()]
        return albums + items

    def fresh(self, album):
        return self.lib.get_album(album.id)


class TestCommand(CoverGenreTestCase):
    def test_pretend_shows_the_changes_and_changes_nothing(self):
        red = self.add_album_of("Red", cover=RED)
        blue = self.add_album_of("Blue", embedded=BLUE)
        stored, files = self.state(), {**self.files_of(red), **self.files_of(blue)}

        output = self.run_with_output("covergenre", "-p")

        assert "Made-up Artist - Red\n" in output, output
        assert "  genres:\n    + Metal\n" in output, output
        assert "    + Rap & Hip-Hop\n" in output, output
        assert f"{PROBABILITY}: 1.000" in output
        assert "2 album(s) would change" in output
        assert self.state() == stored
        assert {**self.files_of(red), **self.files_of(blue)} == files

    def test_sets_genres_and_probability_and_writes_the_files(self):
        red = self.add_album_of("Red", cover=RED, embedded=GREEN)  # the cover file wins
        green = self.add_album_of("Green", embedded=GREEN, ext="flac")
        mixed = self.add_album_of("Mixed", cover=RED_AND_GREEN)
        grey = self.add_album_of("Grey", cover=GREY)

        output = self.run_with_output("covergenre")

        assert self.fresh(red).genres == ["Metal"]
        assert self.fresh(green).genres == ["Jazz"]
        assert self.fresh(mixed).genres == ["Metal"]
        assert self.fresh(red)[PROBABILITY] > 0.99
        assert self.fresh(mixed)[PROBABILITY] == pytest.approx(0.764, abs=0.01)
        assert self.fresh(grey).genres == [] and PROBABILITY not in self.fresh(grey)
        for album, genre in [(red, "Metal"), (green, "Jazz"), (mixed, "Metal")]:
            for item in self.fresh(album).items():
                assert item.genres == [genre]
                assert file_genres(item.path) == [genre]
        # The uncertain ones are found by the probability (a float field, so ranges work).
        uncertain = self.lib.albums(f"{PROBABILITY}:..0.8")
        assert [a.id for a in uncertain] == [mixed.id]
        assert "3 album(s) changed" in output
        assert "1 left alone (1 uncertain)" in output
        assert "0 failed" in output

    def test_a_second_run_leaves_the_albums_unchanged(self):
        self.add_album_of("Red", cover=RED)
        self.run_with_output("covergenre")
        output = self.run_with_output("covergenre", "-f")
        assert "0 album(s) changed, 1 unchanged" in output
        assert "genres:" not in output

    def test_existing_genres_are_kept_without_force_and_replaced_with_it(self, recorder):
        command, log = recorder
        self.config["covergenre"]["command"] = command
        polka = self.add_album_of("Polka", cover=RED, genres=["Polka"])
        files = self.files_of(polka)

        output = self.run_with_output("covergenre")
        assert self.fresh(polka).genres == ["Polka"]
        assert self.files_of(polka) == files
        assert "1 left alone (1 with genres (-f replaces them))" in output
        assert runs(log) == [], "albums left alone are not even classified"

        self.run_with_output("covergenre", "--force")
        assert self.fresh(polka).genres == ["Metal"]
        assert all(file_genres(i.path) == ["Metal"] for i in polka.items())

        self.add_album_of("Polka Again", cover=BLUE, genres=["Polka"])
        self.config["covergenre"]["force"] = True
        self.run_with_output("covergenre", "album:Again")
        assert self.lib.albums("album:Again").get().genres == ["Rap & Hip-Hop"]

    def test_count_two_writes_two_genres(self):
        self.config["covergenre"].set({"count": 2, "min_confidence": 0.2})
        mp3 = self.add_album_of("Mixed MP3", cover=RED_AND_GREEN)
        flac = self.add_album_of("Mixed FLAC", cover=RED_AND_GREEN, ext="flac")
        red = self.add_album_of("Red", cover=RED)

        self.run_with_output("covergenre")

        for album in (mp3, flac):
            assert self.fresh(album).genres == ["Metal", "Jazz"]
            for item in album.items():
                # Separate values: two TCON strings, two GENRE comments.
                assert file_genres(item.path) == ["Metal", "Jazz"]
        assert self.fresh(red).genres == ["Metal"], "the second genre is under the bar"

    def test_the_models_own_genre_names_are_used(self, tmp_path):
        names = ["Heavy Metal", "Jazz", "Hip-Hop"]  # as a library's owner spells them
        model = media.colour_model(tmp_path / "owner.onnx", names=names)
        self.config["covergenre"]["model"] = str(model)
        blue = self.add_album_of("Blue", cover=BLUE)
        red = self.add_album_of("Red", cover=RED)
        self.run_with_output("covergenre")
        assert self.fresh(blue).genres == ["Hip-Hop"]
        assert self.fresh(red).genres == ["Heavy Metal"]

    def test_slugs_with_genre_style_slug(self):
        self.config["covergenre"]["genre_style"] = "slug"
        blue = self.add_album_of("Blue", cover=BLUE)
        self.run_with_output("covergenre")
        assert self.fresh(blue).genres == ["rap-hip-hop"]

    def test_a_query_selects_only_its_albums(self, recorder):
        command, log = recorder
        self.config["covergenre"]["command"] = command
        red = self.add_album_of("Red", cover=RED)
        blue = self.add_album_of("Blue", cover=BLUE)
        green = self.add_album_of("Green", embedded=GREEN)

        self.run_with_output("covergenre", "album:Blue")

        assert self.fresh(blue).genres == ["Rap & Hip-Hop"]
        assert self.fresh(red).genres == [] and self.fresh(green).genres == []
        [run] = runs(log)
        assert run["stdin"] == os.fsdecode(blue.item_dir()) + "\n"

    def test_one_classify_run_serves_fifty_albums(self, recorder):
        command, log = recorder
        self.config["covergenre"]["command"] = command
        colours = [(RED, "Metal"), (GREEN, "Jazz"), (BLUE, "Rap & Hip-Hop")]
        albums = []
        for i in range(50):
            colour, genre = colours[i % 3]
            # Every other album has its cover only embedded in its tracks.
            if i % 2:
                album = self.add_album_of(f"Album {i:02d}", embedded=colour, tracks=1)
            else:
                album = self.add_album_of(f"Album {i:02d}", cover=colour, tracks=1)
            albums.append((album, genre))

        output = self.run_with_output("covergenre")

        [run] = runs(log)
        assert len(run["stdin"].splitlines()) == 50
        assert run["args"][:5] == ["--library", "--format", "jsonl", "--albums-from", "-"]
        assert [self.fresh(a).genres for a, _ in albums] == [[g] for _, g in albums]
        assert "50 album(s) changed" in output

    def test_an_album_without_any_cover_fails_and_the_rest_go_on(self, caplog):
        bare = self.add_album_of("Bare")
        red = self.add_album_of("Red", cover=RED)
        output = self.run_with_output("covergenre")
        assert self.fresh(red).genres == ["Metal"]
        assert self.fresh(bare).genres == []
        assert "1 album(s) changed" in output and "1 failed" in output
        # covergenre-classify's reason, under the album's name.
        assert "Made-up Artist - Bare: no cover image file" in caplog.text

    def test_art_outside_the_album_folder_is_used(self):
        album = self.add_album_of("Red Folder, Blue Art", cover=RED)
        art = self.temp_path / "art" / "elsewhere.png"
        art.parent.mkdir()
        art.write_bytes(media.png(BLUE))
        album.artpath = os.fsencode(art)
        album.store()
        inside = self.add_album_of("Art Inside", cover=GREEN)
        inside.artpath = os.fsencode(self.lib_path / "Made-up Artist" / "Art Inside" / "cover.png")
        inside.store()

        self.run_with_output("covergenre")

        assert self.fresh(album).genres == ["Rap & Hip-Hop"]
        assert self.fresh(inside).genres == ["Jazz"]

    def test_without_art_the_front_cover_is_found_as_covergenre_finds_it(self):
        """beets has no art path: covergenre's own rule picks the cover (a front beside a
        back, a cover named after the album, an album folder called `Covers`)."""
        front = self.add_album_of("Front And Back")
        folder = self.lib_path / "Made-up Artist" / "Front And Back"
        (folder / "00 - front.png").write_bytes(media.png(GREEN))
        (folder / "back.png").write_bytes(media.png(RED))
        named = self.add_album_of("Named")
        (self.lib_path / "Made-up Artist" / "Named" / "Named.png").write_bytes(media.png(BLUE))
        covers = self.add_album_of("Covers")
        (self.lib_path / "Made-up Artist" / "Covers" / "Cover (1).png").write_bytes(
            media.png(RED)
        )
        assert not front.artpath and not named.artpath and not covers.artpath

        self.run_with_output("covergenre")

        assert self.fresh(front).genres == ["Jazz"]
        assert self.fresh(named).genres == ["Rap & Hip-Hop"]
        assert self.fresh(covers).genres == ["Metal"]

    def two_discs(self, name: str, cover=None, embedded=None):
        """A two-disc album (CD1/, CD2/), `cover` as cover.png in the album folder, `embedded`
        in the tracks."""
        folder = self.lib_path / "Made-up Artist" / name
        folder.mkdir(parents=True)
        if cover is not None:
            (folder / "cover.png").write_bytes(media.png(cover))
        picture = media.png(embedded) if embedded is not None else None
        items = []
        for disc in ("CD1", "CD2"):
            (folder / disc).mkdir()
            path = folder / disc / "01 Track.mp3"
            media.write_track(path, f"Track {disc}", name, "Made-up Artist", 1, None, picture)
            items.append(Item.from_path(os.fsencode(path)))
        return self.lib.add_album(items)

    def test_a_multi_disc_album_is_its_parent_folder(self, recorder):
        command, log = recorder
        self.config["covergenre"]["command"] = command
        with_cover = self.two_discs("Cover Beside The Discs", cover=BLUE, embedded=RED)
        embedded = self.two_discs("Cover In The Tracks", embedded=GREEN)

        self.run_with_output("covergenre")

        assert self.fresh(with_cover).genres == ["Rap & Hip-Hop"]
        assert self.fresh(embedded).genres == ["Jazz"]
        folders = runs(log)[0]["stdin"].splitlines()
        assert [Path(f).name for f in folders] == [
            "Cover Beside The Discs",
            "Cover In The Tracks",
        ]


class TestFailures(CoverGenreTestCase):
    def assert_nothing_changed(self, run):
        red = self.add_album_of("Red", cover=RED)
        stored, files = self.state(), self.files_of(red)
        with pytest.raises(ui.UserError) as error:
            run()
        assert self.state() == stored
        assert self.files_of(red) == files
        return str(error.value)

    def test_a_missing_command_is_named_with_how_to_install_it(self):
        self.config["covergenre"]["command"] = "/no/such/covergenre-classify"
        message = self.assert_nothing_changed(lambda: self.run_command("covergenre"))
        assert "/no/such/covergenre-classify" in message
        assert "cargo install" in message and "covergenre.command" in message
        assert "no album was changed" in message

    def test_a_failing_command_gives_its_message(self, tmp_path):
        missing = tmp_path / "no-such-model.onnx"
        self.config["covergenre"]["model"] = str(missing)
        message = self.assert_nothing_changed(lambda: self.run_command("covergenre"))
        assert "covergenre-classify failed" in message
        assert f"model {missing}: no such file" in message, message
        assert "no album was changed" in message

    def test_bad_configuration_is_refused_before_anything_runs(self):
        self.config["covergenre"]["min_confidence"] = 1.5
        message = self.assert_nothing_changed(lambda: self.run_command("covergenre"))
        assert "min_confidence" in message


class TestImport(ImporterMixin, CoverGenreTestCase):
    def prepare_import(self):
        """An album to import: red cover.png beside tracks whose embedded art is green, so the
        genre says whether the cover file was set as the album's art before classifying."""
        folder = self.import_path / "Import Album"
        folder.mkdir()
        (folder / "cover.png").write_bytes(media.png(RED))
        for number in (1, 2):
            media.write_track(
                folder / f"0{number}.mp3",
                f"Track {number}",
                "Import Album",
                "Made-up Artist",
                number,
                picture=media.png(GREEN),
            )

    def import_with(self, plugin_config):
        self.prepare_import()
        self.unload_plugins()
        self.config["plugins"] = ["fetchart", "covergenre"]
        self.config["fetchart"].set({"sources": ["filesystem"], "auto": True})
        self.config["covergenre"].set(plugin_config)
        beets.plugins.load_plugins()
        self.setup_importer(autotag=False).run()
        return self.lib.albums().get()

    def test_auto_classifies_each_album_after_its_art_is_set(self):
        album = self.import_with({"auto": True})
        assert album.artpath, "fetchart set the cover file as the album's art"
        assert album.genres == ["Metal"], "the cover file, not the embedded art"
        assert album[PROBABILITY] > 0.99
        for item in album.items():
            assert file_genres(item.path) == ["Metal"], "import.write: the files carry it"

    def test_without_auto_importing_sets_no_genre(self):
        album = self.import_with({"auto": False})
        assert album.genres == []
        assert PROBABILITY not in album


class TestArtistContext(CoverGenreTestCase):
    def library_of_artists(self):
        """Three Jazz albums of the Miles Quartet, three Metal albums of Iron Maidens, and the
        Miles Quartet's album without genres whose cover is mostly red (about 0.77 metal)."""
        for n in range(1, 4):
            self.add_album_of(f"Miles {n}", cover=GREEN, genres=["Jazz"], artist="Miles Quartet")
            self.add_album_of(f"Forge {n}", cover=RED, genres=["Metal"], artist="Iron Maidens")
        return self.add_album_of("New Session", cover=RED_AND_GREEN, artist="Miles Quartet")

    def test_the_artists_other_albums_make_a_mostly_red_cover_jazz(self, recorder):
        new = self.library_of_artists()
        command, log = recorder
        self.config["covergenre"]["command"] = command

        self.run_with_output("covergenre")

        assert self.fresh(new).genres == ["Jazz"]
        assert 0.5 < self.fresh(new)[PROBABILITY] < 0.77
        assert file_genres(next(iter(new.items())).path) == ["Jazz"]
        (run,) = runs(log)
        assert "--artist-context" in run["args"], run["args"]
        tagged = [a for a in self.lib.albums() if a.id != new.id]
        assert all(a.genres in (["Jazz"], ["Metal"]) for a in tagged), "albums with genres stay"

    def test_artist_context_no_gives_the_cover_alone(self, recorder):
        new = self.library_of_artists()
        command, log = recorder
        self.config["covergenre"].set({"command": command, "artist_context": False})

        self.run_with_output("covergenre")

        assert self.fresh(new).genres == ["Metal"]
        (run,) = runs(log)
        assert "--artist-context" not in run["args"], run["args"]
