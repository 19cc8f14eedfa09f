"""Progress of the running job with a Cancel button; lives in the status bar."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from ..jobs import JobRunner


class JobBar(QWidget):
    def __init__(self, jobs: JobRunner, parent=None):
        super().__init__(parent)
        self.jobs = jobs
        self.label = QLabel("Ready")
        self.label.setMinimumWidth(260)
        self.bar = QProgressBar()
        self.bar.setFixedWidth(220)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(jobs.cancel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_button)
        jobs.started.connect(self._started)
        jobs.progressed.connect(self._progressed)
        jobs.idle.connect(self._idle)
        jobs.succeeded.connect(lambda name: self.label.setText(f"Ready · {name} done"))
        jobs.cancelled.connect(lambda name: self.label.setText(f"{name}: cancelled (finished work kept)"))
        jobs.failed.connect(lambda name, msg: self.label.setText(f"{name} failed"))
        self._idle()

    def _started(self, name: str):
        self.label.setText(f"{name}…")
        self.bar.setRange(0, 0)
        self.bar.show()
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()

    def _progressed(self, done: int, total: int, label: str):
        name = self.jobs.name
        self.label.setText(f"{name}: {label}" if label else name)
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
            self.bar.setFormat(f"{done:,} / {total:,}")
        else:
            self.bar.setRange(0, 0)

    def _idle(self):
        if not self.jobs.busy:
            self.bar.hide()
            self.cancel_button.hide()
