"""File ▸ Save session… and Open session…: the dialogs and the wait for the run (core.session_file
does the reading, checking and writing).

Opening sets the saved settings and starts the pipeline; once the run is on display, the saved
selections and colouring are resolved in the analysis lane and set. A file that cannot be read
is one line in the window's banner; the map on screen stays as it was.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from ...core.session_file import SUFFIX, SessionFileError, apply_resolved, read_session, resolve, save_session

FILTER = f"Explorer session (*{SUFFIX} *.json);;All files (*)"


class SessionFiles(QObject):
    restored = Signal(list)  # the saved selections and colouring are on the map; notes of what was not
    message = Signal(str)  # one line for the status bar or banner

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.session = window.session
        self._pending = None
        window.bridge.run_changed.connect(self._run_changed)
        window.pipeline_failed.connect(lambda *_: setattr(self, "_pending", None))

    def save_dialog(self):
        path, _ = QFileDialog.getSaveFileName(self.window, "Save session", f"session{SUFFIX}", FILTER)
        if path:
            self.save(path)

    def open_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self.window, "Open session", "", FILTER)
        if path:
            self.open(path)

    def save(self, path: str) -> bool:
        try:
            save_session(path, self.session)
        except SessionFileError as e:
            self._error(str(e))
            return False
        self.window.statusBar().showMessage(f"Saved the session to {path}", 5000)
        return True

    def open(self, path: str) -> bool:
        try:
            saved = read_session(path)
        except SessionFileError as e:
            self._error(str(e))
            return False
        self._pending = saved
        settings = dict(saved.settings)
        self.session.update(**settings)
        self.window.start_pipeline()
        return True

    def _run_changed(self):
        saved, run = self._pending, self.session.run
        if saved is None or run is None or self.session.dataset != saved.settings["dataset"]:
            return
        self._pending = None

        def done(resolved):
            if run is not self.session.run:
                return
            apply_resolved(self.session, resolved)
            if resolved.notes:
                self.window.statusBar().showMessage(" · ".join(resolved.notes), 15000)
            self.restored.emit(resolved.notes)

        self.window.jobs.analysis.start("Restoring the session", lambda: resolve(saved, run), done,
                                        key="session-restore")

    def _error(self, text: str):
        self.window.banner.setText(text)
        self.window.banner.show()
        self.message.emit(text)
