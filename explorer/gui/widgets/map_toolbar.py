"""The thin bar over the map: what a click or region does to the selection, point size, opacity, density.

Every control writes one session field and follows it back (a session file or a script may set
them too), so the bar always shows what the map does.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from ...core.session import SELECTION_MODES
from ..bridge import SessionBridge

MODE_BUTTONS = {  # mode: (button text, tooltip)
    "replace": ("=", "Replace: a click or region becomes the selection"),
    "add": ("+", "Add: a click or region is added to the selection (also Shift+click, Alt+drag)"),
    "intersect": ("∩", "Intersect: keep only what is selected and in the click or region (also Ctrl+Shift+click)"),
    "subtract": ("−", "Subtract: a click or region leaves the selection (also Ctrl+click)"),
}


class MapToolbar(QWidget):
    def __init__(self, bridge: SessionBridge, parent=None):
        super().__init__(parent)
        self.bridge = bridge
        self.session = s = bridge.session
        self.modes = QButtonGroup(self)
        self.mode_buttons: dict[str, QToolButton] = {}
        rows = QVBoxLayout(self)
        rows.setContentsMargins(4, 2, 4, 0)
        rows.setSpacing(0)
        lay = QHBoxLayout()
        rows.addLayout(lay)
        lay.setSpacing(3)
        lay.addWidget(QLabel("Select"))
        for mode in SELECTION_MODES:
            text, tip = MODE_BUTTONS[mode]
            b = QToolButton(text=text, checkable=True, toolTip=tip)
            b.setFixedWidth(26)
            self.modes.addButton(b)
            self.mode_buttons[mode] = b
            lay.addWidget(b)
            b.clicked.connect(lambda _=False, mode=mode: setattr(self.session, "selection_mode", mode))
        lay.addSpacing(10)
        lay.addWidget(QLabel("Size"))
        self.size = QSpinBox(minimum=2, maximum=30, value=s.point_size, toolTip="Point size in pixels")
        lay.addWidget(self.size)
        lay.addWidget(QLabel("Opacity"))
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=5, maximum=100, toolTip="Point opacity")
        self.opacity.setFixedWidth(70)
        lay.addWidget(self.opacity)
        self.density = QCheckBox("Density", toolTip="Draw a density image instead of points, at any count")
        lay.addWidget(self.density)
        lay.addStretch(1)
        # what the colours mean, right over the map (the class legend is only right when colouring by label)
        self.colour_label = QLabel()
        self.colour_label.setStyleSheet("color: #555;")
        self.colour_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        rows.addWidget(self.colour_label)

        self.size.valueChanged.connect(lambda v: setattr(self.session, "point_size", v))
        self.opacity.valueChanged.connect(lambda v: setattr(self.session, "point_opacity", v / 100))
        self.density.toggled.connect(lambda on: setattr(self.session, "density_view", on))
        bridge.selection_mode_changed.connect(self.refresh)
        bridge.map_style_changed.connect(self.refresh)
        bridge.colour_changed.connect(self.refresh)
        self.refresh()

    def refresh(self):
        s = self.session
        if s.colour_channel is not None:
            text = f"Colour: channel {s.colour_channel} (Neurons tab)"
        elif s.colour_by is not None:
            text = f"Colour: {s.colour_by.title} (legend in the Map tab)"
        else:
            text = "Colour: label (Classes in Controls)"
        self.colour_label.setText(text)
        self.colour_label.setToolTip(text)
        self.mode_buttons.get(s.selection_mode, self.mode_buttons["replace"]).setChecked(True)
        for widget, value in ((self.size, s.point_size), (self.opacity, round(s.point_opacity * 100)),
                              (self.density, s.density_view)):
            widget.blockSignals(True)
            if isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            else:
                widget.setValue(int(value))
            widget.blockSignals(False)
