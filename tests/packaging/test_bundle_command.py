"""Inside a bundle the user types `cnn-feature-explorer`, so its messages name that command, not the
`explorer` of a pip install (issue 15). A bundle is recognised by sys.frozen, set here by hand."""

import sys

import pytest


@pytest.fixture
def bundled(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)


def test_a_bad_argument_names_the_bundles_command(bundled, capsys):
    from explorer.cli.main import main

    assert main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert "'cnn-feature-explorer --help'" in err and "'explorer" not in err


def test_an_error_from_the_core_names_the_bundles_command(bundled, capsys, tmp_path):
    from explorer.cli.main import main

    assert main(["project", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'cnn-feature-explorer embed'" in err and "'explorer" not in err


def test_help_and_version_name_the_bundles_command(bundled, capsys):
    from explorer.cli.main import main

    main(["--version"])
    assert capsys.readouterr().out.startswith("cnn-feature-explorer ")


def test_a_pip_install_keeps_explorer(capsys, tmp_path):
    from explorer.cli.main import main

    assert main(["project", str(tmp_path)]) == 2
    assert "'explorer embed'" in capsys.readouterr().err


@pytest.mark.parametrize("message, expected", [
    ("run 'explorer project /data/explorer/run' first", "run 'cnn-feature-explorer project /data/explorer/run' first"),
    ("commands (explorer embed, explorer demo, ...)", "commands (cnn-feature-explorer embed, cnn-feature-explorer demo, ...)"),
    ("see `explorer models`", "see `cnn-feature-explorer models`"),
    ("/home/me/explorer photos: not a folder", "/home/me/explorer photos: not a folder"),  # a path is left alone
    ("CNN Feature Explorer", "CNN Feature Explorer"),
])
def test_only_the_command_is_renamed(bundled, message, expected):
    from explorer.resources import own_command

    assert own_command(message) == expected


def test_the_windows_error_banner_names_the_bundles_command(bundled, qtbot):
    pytest.importorskip("pytestqt")
    from explorer.gui.main_window import MainWindow

    win = MainWindow(remember=False)
    qtbot.addWidget(win)
    win._job_failed("analysis", "Projection", "project it again with 'explorer project /runs/a'.")
    assert "'cnn-feature-explorer project /runs/a'" in win.banner.text()
    win.jobs.cancel()
    win.jobs.wait(10_000)


def test_no_display_names_the_bundles_command(bundled, monkeypatch, capsys):
    from explorer.gui.app import run_app

    monkeypatch.setattr(sys, "platform", "linux")
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    assert run_app() == 2
    err = capsys.readouterr().err
    assert "'cnn-feature-explorer demo'" in err and "'explorer" not in err
