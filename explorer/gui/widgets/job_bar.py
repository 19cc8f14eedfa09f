"""Progress of one job lane with a Cancel button, the time left, and Resume after a Cancel; the status
bar holds one per lane."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from ...core.progress import Eta, format_eta
from ..jobs import Lane

SHOW_AFTER_MS = 300  # a quiet bar appears only for jobs that take longer than this
MESSAGE_MS = 8000  # how long a quiet bar keeps saying how its last job ended


class JobBar(QWidget):
    """A loud bar (the pipeline) always says "Ready" or what runs; a quiet bar (analysis, io) is
    hidden while its lane is idle and says for a few seconds when a job failed."""

    def __init__(self, lane: Lane, *, quiet: bool = False, parent=None):
        super().__init__(parent)
        self.lane = lane
        self.quiet = quiet
        self.label = QLabel("Ready")
        self.label.setMinimumWidth(120 if quiet else 260)
        self.bar = QProgressBar()
        self.bar.setFixedWidth(140 if quiet else 220)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(f"Stop the {lane.title} job after its current step")
        self.cancel_button.clicked.connect(lambda: lane.cancel())
        self.resume_button = QPushButton("Resume")  # offered by the window after a Cancel
        self.resume_button.clicked.connect(self._resume)
        self.resume_button.hide()
        self._resume_action = None
        self.eta = Eta()
        self.eta_text = ""  # what the bar says about the time left ("" while unknown)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_button)
        lay.addWidget(self.resume_button)
        self._show_timer = QTimer(self, singleShot=True, interval=SHOW_AFTER_MS)
        self._show_timer.timeout.connect(lambda: self.setVisible(lane.busy))
        self._hide_timer = QTimer(self, singleShot=True, interval=MESSAGE_MS)
        self._hide_timer.timeout.connect(lambda: self.setVisible(lane.busy))
        lane.started.connect(self._started)
        lane.progressed.connect(self._progressed)
        lane.idle.connect(self._idle)
        lane.succeeded.connect(lambda name: self.label.setText(f"Ready · {name} done"))
        lane.cancelled.connect(self._cancelled)
        lane.failed.connect(lambda name, msg: self._ended(f"{name} failed", msg))
        self._idle()
        if quiet:
            self.hide()

    def offer_resume(self, action, tooltip: str = "") -> None:
        """Show Resume, which calls `action()` (None: hide it)."""
        self._resume_action = action
        self.resume_button.setToolTip(tooltip)
        self.resume_button.setVisible(action is not None)
        if action is not None:
            self.show()

    def _resume(self):
        action, self._resume_action = self._resume_action, None
        self.resume_button.hide()
        if action is not None:
            action()

    def _started(self, name: str):
        self.eta = Eta()
        self.eta_text = ""
        self.label.setText(f"{name}…")
        self.label.setToolTip("")
        self.bar.setRange(0, 0)
        self.bar.show()
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        if self.quiet and not self.isVisible():
            self._hide_timer.stop()
            self._show_timer.start()

    def _progressed(self, name: str, done: int, total: int, label: str):
        self.label.setText(f"{name}: {label}" if label else name)
        if total > 0:
            self.eta.update(done, total, time.monotonic())
            self.eta_text = format_eta(self.eta.seconds_left())
            self.bar.setRange(0, total)
            self.bar.setValue(done)
            self.bar.setFormat(f"{done:,} / {total:,}")
            self.bar.setToolTip(self.eta_text)
            if self.eta_text:
                self.label.setText(f"{self.label.text()} · {self.eta_text}")
        else:
            self.bar.setRange(0, 0)

    def _cancelled(self, name: str):
        if self.quiet:  # analysis jobs are mostly replaced by newer ones of their kind: nothing to say
            self._idle()
        else:
            self._ended(f"{name}: cancelled (finished work kept)")

    def _ended(self, text: str, detail: str = ""):
        self.label.setText(text)
        self.label.setToolTip(detail)
        if self.quiet:
            self._show_timer.stop()
            self.show()
            self._hide_timer.start()

    def _idle(self):
        if self.lane.busy:
            return
        self.bar.hide()
        self.cancel_button.hide()
        if self.quiet and not self._hide_timer.isActive():
            self._show_timer.stop()
            self.hide()
