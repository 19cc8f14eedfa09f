"""The menu entry (resources/cnn-feature-explorer.desktop) as a desktop runs it (issue 15)."""

import configparser
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DESKTOP = ROOT / "resources" / "cnn-feature-explorer.desktop"


def _entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(DESKTOP)
    return parser["Desktop Entry"]


def _argv(path: str) -> list[str]:
    """Exec= with %f replaced by one path, as the desktop does when a folder is dropped on the launcher."""
    return [path if word == "%f" else word for word in shlex.split(_entry()["Exec"])]


def _started(monkeypatch, argv):
    import explorer.gui.app
    from explorer.__main__ import main

    seen = {}
    monkeypatch.setattr(explorer.gui.app, "run_app", lambda *a, **k: seen.setdefault("args", a) and 0)
    code = main(argv[1:])
    return code, seen.get("args")


def test_a_folder_dropped_on_the_launcher_opens_in_the_app(monkeypatch, tmp_path):
    folder = tmp_path / "my photos"  # a space, as in most people's folder names
    folder.mkdir()
    argv = _argv(str(folder))
    assert argv[0] == "cnn-feature-explorer"
    code, args = _started(monkeypatch, argv)
    assert code == 0 and args is not None and args[0] == str(folder)


def test_the_launcher_without_a_file_opens_the_app(monkeypatch):
    argv = [w for w in shlex.split(_entry()["Exec"]) if w != "%f"]  # the desktop drops an empty %f
    code, args = _started(monkeypatch, argv)
    assert code == 0 and args is not None and args[0] is None


def test_a_missing_path_is_one_clear_line(monkeypatch, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:  # argparse's exit, as on the command line
        _started(monkeypatch, ["cnn-feature-explorer", str(tmp_path / "gone")])
    assert exit_.value.code == 2
    assert "gone" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["Name", "Exec", "Icon", "Type", "Categories"])
def test_the_entry_has_what_menus_need(key):
    assert _entry()[key]
