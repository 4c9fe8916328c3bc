"""Which files are topologies, how they are named, and how they are read: capped, and never
from a device or a named pipe."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from runbook.topology.files import (
    NotRegularFile,
    TooLarge,
    discover,
    display_name,
    read_capped,
)


def test_a_regular_file_is_read_whole_up_to_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"a" * 100)
    assert read_capped(path, 100) == b"a" * 100
    with pytest.raises(TooLarge, match="it holds more than 99 bytes"):
        read_capped(path, 99)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_link_to_a_device_is_refused_without_reading_it(tmp_path: Path, device: str) -> None:
    link = tmp_path / "x.yaml"
    link.symlink_to(device)
    start = time.perf_counter()
    with pytest.raises(NotRegularFile, match=r"^it is a character device, not a regular file$"):
        read_capped(link, 256_000)
    assert time.perf_counter() - start < 1


def test_a_named_pipe_is_refused_at_once_even_with_no_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "x.yaml"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            read_capped(fifo, 256_000)
        except BaseException as exc:  # handed over to the test's thread
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)  # a hang must not hang the tests
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "reading a FIFO with no writer waits"
    (exc,) = outcome
    assert isinstance(exc, NotRegularFile)
    assert str(exc) == "it is a named pipe (FIFO), not a regular file"


def test_a_pipe_another_program_feeds_is_read_capped(tmp_path: Path) -> None:
    """``runbook validate /dev/stdin`` and ``<(...)``: a pipe with no name in a folder."""
    read_end, write_end = os.pipe()

    def feed() -> None:
        os.write(write_end, b"site: x\n" * 10)
        os.close(write_end)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        assert read_capped(f"/dev/fd/{read_end}", 1_000) == b"site: x\n" * 10
    finally:
        writer.join()
        os.close(read_end)


def test_a_pipe_is_refused_when_pipes_are_not_wanted() -> None:
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(NotRegularFile, match=r"^it is a pipe, not a regular file$"):
            read_capped(f"/dev/fd/{read_end}", 1_000, pipes=False)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFile, match=r"^it is a folder, not a regular file$"):
        read_capped(tmp_path, 10)


def test_discover_lists_every_yaml_entry_of_a_folder_but_folders(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("x")
    os.mkfifo(tmp_path / "b.yaml")
    (tmp_path / "c.yml").symlink_to("/dev/zero")
    (tmp_path / "d.yaml").symlink_to(tmp_path / "nowhere")
    (tmp_path / "e.yaml").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in discover([tmp_path])] == ["a.yaml", "b.yaml", "c.yml", "d.yaml"]


def test_a_file_name_is_reported_printable(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    raw = b"caf\xe9-\x1b]52;c;eA==\x07.yaml"
    with open(os.fsencode(tmp_path) + b"/" + raw, "wb"):
        pass
    (found,) = discover([Path(".")])
    assert display_name(found) == "caf\\xe9-\\x1b]52;c;eA==\\x07.yaml"


def test_a_link_is_named_as_itself_not_as_its_target(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.yaml").symlink_to("/dev/zero")
    assert display_name(Path("x.yaml")) == "x.yaml"
