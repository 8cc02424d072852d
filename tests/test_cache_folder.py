"""Where the assembly cache lives when HARNESS_CACHE_DIR does not say: the user cache folder, never the working one."""

from pathlib import Path

import pytest
from pmtimer_harness.tools import cache


@pytest.fixture
def no_configured_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("xdg", ["", "relative/cache"])
@pytest.mark.usefixtures("no_configured_folder")
def test_an_empty_or_relative_xdg_cache_home_is_ignored_as_the_xdg_spec_says(monkeypatch, tmp_path, xdg):
    # A relative XDG_CACHE_HOME would put the cache in whatever folder the command ran in.
    monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    assert cache.folder() == tmp_path / "home" / ".cache" / "pmtimer-harness" / "nasm"


@pytest.mark.usefixtures("no_configured_folder")
def test_an_absolute_xdg_cache_home_is_the_user_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.folder() == tmp_path / "xdg" / "pmtimer-harness" / "nasm"


def test_harness_cache_dir_wins_over_the_user_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "mine"))
    assert cache.folder() == Path(tmp_path / "mine")


@pytest.mark.parametrize(("xdg", "home"), [
    (None, "/home/user"), ("", "/home/user/"), ("relative/cache", "/home/user"), ("/xdg/cache", "/home/user"),
    ("/xdg/cache/", None), (None, "/"), (None, "relative/home"), ("relative", ""),
])
def test_the_user_cache_folder_is_the_one_platformdirs_finds(monkeypatch, xdg, home):
    # The folder is found without loading platformdirs where its rule is plain (start-up): the same folder.
    import platformdirs

    for name, value in (("XDG_CACHE_HOME", xdg), ("HOME", home)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    expected = platformdirs.user_cache_path("pmtimer-harness", appauthor=False, opinion=False)
    assert cache.user_cache_folder() / "pmtimer-harness" == expected
