"""Bad-input battery for mlops_tutorial.core.data: each malformed file is refused with a WineDataError naming the problem,
and a fetch of a malformed file leaves nothing at its destination; a download from a URL is retried by pooch, proved
against a real HTTP server on 127.0.0.1 that answers 503 first."""
import contextlib
import functools
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest

from mlops_tutorial.core.data import (COLUMNS, DOWNLOAD_RETRIES, MIRROR_VARIABLE, WINE_FILES, WineDataError, fetch_wine,
                                      fetch_wine_file, read_wine_csv)
from mlops_tutorial.core.split import split_wine


def replace_line(text: str, number: int, transform) -> str:
    "`text` with its line `number` (1-based) passed through `transform`."
    lines = text.splitlines(keepends=True)
    lines[number - 1] = transform(lines[number - 1])
    return "".join(lines)


def set_field(text: str, line: int, column: int, value: str) -> str:
    "`text` with field `column` (0-based) of `line` set to `value` (UCI ';' layout)."
    def transform(row: str) -> str:
        fields = row.rstrip("\n").split(";")
        fields[column] = value
        return ";".join(fields) + "\n"
    return replace_line(text, line, transform)


def header_with(text: str, old: str, new: str) -> str:
    "`text` with `old` replaced by `new` in the header only."
    return replace_line(text, 1, lambda header: header.replace(old, new))


PH, ALCOHOL, CHLORIDES, QUALITY = 8, 10, 4, 11

MALFORMED = {  # name -> (make contents from the real text, words the error must contain)
    "wrong_delimiter": (lambda t: t.replace(";", "\t"), ["neither ';'-separated"]),
    "missing_column": (lambda t: "\n".join(";".join(r.split(";")[:-2] + r.split(";")[-1:]) for r in t.splitlines())
                       + "\n", ["missing column", "alcohol"]),
    "extra_column": (lambda t: "\n".join(r + ";1" for r in t.splitlines()).replace('"quality";1', '"quality";"colour"')
                     + "\n", ["unexpected column", "colour"]),
    "renamed_column": (lambda t: header_with(t, '"pH"', '"acidity_index"'), ["missing column", "'ph'",
                                                                                "unexpected column", "acidity_index"]),
    "missing_value": (lambda t: set_field(t, 5, ALCOHOL, ""), ["'alcohol'", "not_nullable", "line"]),
    "text_in_number": (lambda t: set_field(t, 7, CHLORIDES, "salty"), ["'chlorides'", "salty"]),
    "ph_out_of_range": (lambda t: set_field(t, 18, PH, "15.2"), ["'ph'", "in_range", "18"]),
    "negative_concentration": (lambda t: set_field(t, 3, CHLORIDES, "-0.076"), ["'chlorides'", "greater_than", "3"]),
    "fractional_quality": (lambda t: set_field(t, 10, QUALITY, "5.5"), ["'quality'", "whole number", "10"]),
    "quality_out_of_range": (lambda t: set_field(t, 11, QUALITY, "11"), ["'quality'", "in_range", "11"]),
    "empty_file": (lambda t: "", ["empty"]),
    "header_only": (lambda t: t.splitlines(keepends=True)[0], ["no data rows"]),
    "truncated_last_line": (lambda t: t.rstrip("\n")[:-12] + "\n", ["1600", "fields", "truncated"]),
    "non_utf8": (lambda t: t.replace("7.4", "7\xb74", 1).encode("latin-1"), ["not UTF-8", "0xb7"]),
    "density_out_of_range": (lambda t: set_field(t, 2, 7, "9.978"), ["'density'", "in_range"]),
}


def write(path: Path, contents) -> Path:
    "Write text or bytes to `path` and return it."
    if isinstance(contents, bytes):
        path.write_bytes(contents)
    else:
        path.write_text(contents, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_is_refused_with_a_named_problem(case, red_wine_text, tmp_path):
    make, words = MALFORMED[case]
    path = write(tmp_path / f"{case}.csv", make(red_wine_text))
    with pytest.raises(WineDataError) as caught:
        read_wine_csv(path)
    message = str(caught.value)
    assert str(path) in message
    for word in words:
        assert word in message, f"{word!r} missing from: {message}"


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_fetching_a_malformed_file_leaves_nothing_behind(case, red_wine_text, tmp_path):
    make, _ = MALFORMED[case]
    mirror, destination = tmp_path / "mirror", tmp_path / "data"
    mirror.mkdir()
    source = write(mirror / "winequality-red.csv", make(red_wine_text))
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    with pytest.raises(WineDataError, match="winequality-red.csv"):
        fetch_wine_file("winequality-red.csv", sha256, destination, source=str(mirror))
    assert not destination.exists() or not any(destination.iterdir())


def test_wrong_checksum_names_file_hashes_and_variable(red_wine_text, tmp_path):
    mirror, destination = tmp_path / "mirror", tmp_path / "data"
    mirror.mkdir()
    write(mirror / "winequality-red.csv", set_field(red_wine_text, 2, ALCOHOL, "9.5"))
    with pytest.raises(WineDataError) as caught:
        fetch_wine_file("winequality-red.csv", WINE_FILES["red"][1], destination, source=str(mirror))
    message = str(caught.value)
    for word in ("winequality-red.csv", WINE_FILES["red"][1], "but got", MIRROR_VARIABLE):
        assert word in message
    assert not any(destination.iterdir())


def test_unreachable_source_names_url_and_variable(tmp_path):
    with pytest.raises(WineDataError) as caught:
        fetch_wine_file("winequality-red.csv", WINE_FILES["red"][1], tmp_path / "data", source=str(tmp_path / "nowhere"))
    assert "nowhere/winequality-red.csv" in str(caught.value) and MIRROR_VARIABLE in str(caught.value)
    assert not (tmp_path / "data" / "winequality-red.csv").exists()


def test_unknown_colour_is_refused():
    with pytest.raises(WineDataError, match="rosé"):
        fetch_wine("rosé")


def test_kaggle_layout_reads_the_same_values(red_wine_file, tmp_path):
    uci = read_wine_csv(red_wine_file)
    kaggle = uci.rename(columns={"ph": "pH"}).rename(columns=lambda name: name.replace("_", " "))
    kaggle_path = tmp_path / "winequality-red-kaggle.csv"
    kaggle.to_csv(kaggle_path, index=False)
    pd.testing.assert_frame_equal(read_wine_csv(kaggle_path), uci)
    assert list(uci.columns) == COLUMNS


def test_white_wine_validates():
    white = read_wine_csv(fetch_wine("white"))
    assert len(white) == 4898 and white.quality.max() == 9


def test_grouped_split_keeps_copies_together_and_is_seeded(red_wine_file):
    wine = read_wine_csv(red_wine_file)
    train, test = split_wine(wine, seed=3, group_duplicates=True)
    assert not set(map(tuple, train.values)) & set(map(tuple, test.values))
    again, _ = split_wine(wine, seed=3, group_duplicates=True)
    assert train.index.equals(again.index)


class BusyFirst(http.server.SimpleHTTPRequestHandler):
    "Serves a folder, answering the server's first `busy` requests with 503 Service Unavailable; records each answer."

    def do_GET(self):  # pylint: disable=invalid-name
        "503 while the server is still busy, then the file."
        answers = self.server.answers
        answers.append(503 if len(answers) < self.server.busy else 200)
        if answers[-1] == 503:
            self.send_error(503, "busy, try again")
        else:
            super().do_GET()

    def log_message(self, *args):  # pylint: disable=arguments-differ
        "Quiet: the answers are recorded instead."


@contextlib.contextmanager
def busy_mirror(red_wine_file: Path, folder: Path, busy: int):
    "A real HTTP server on 127.0.0.1 serving a copy of the red file, 503 for its first `busy` requests: (url, answers)."
    folder.mkdir()
    shutil.copy(red_wine_file, folder)
    handler = functools.partial(BusyFirst, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        server.answers, server.busy = [], busy
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}/", server.answers
        finally:
            server.shutdown()
            thread.join()


def test_a_download_that_fails_once_is_retried(red_wine_file, tmp_path):
    with busy_mirror(red_wine_file, tmp_path / "mirror", busy=1) as (url, answers):
        fetched = fetch_wine_file(red_wine_file.name, WINE_FILES["red"][1], tmp_path / "data", source=url)
    assert answers == [503, 200]
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == WINE_FILES["red"][1]


def test_without_retries_the_same_failure_is_one_error_and_leaves_nothing(red_wine_file, tmp_path):
    with (busy_mirror(red_wine_file, tmp_path / "mirror", busy=1) as (url, answers),
          pytest.raises(WineDataError, match="503") as caught):
        fetch_wine_file(red_wine_file.name, WINE_FILES["red"][1], tmp_path / "data", source=url, retries=0)
    assert answers == [503] and url in str(caught.value) and MIRROR_VARIABLE in str(caught.value)
    assert not any((tmp_path / "data").iterdir())


@pytest.mark.slow  # the retries wait between attempts (about 3 s)
def test_retries_stop_after_download_retries(red_wine_file, tmp_path):
    "The default gives up after 1 + DOWNLOAD_RETRIES tries (pooch waits 1 s, then 2 s: about 3 s)."
    with (busy_mirror(red_wine_file, tmp_path / "mirror", busy=DOWNLOAD_RETRIES + 1) as (url, answers),
          pytest.raises(WineDataError, match="503")):
        fetch_wine_file(red_wine_file.name, WINE_FILES["red"][1], tmp_path / "data", source=url)
    assert answers == [503] * (DOWNLOAD_RETRIES + 1)
