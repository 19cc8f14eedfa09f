"""The Controls dock in a narrow window: every name readable, or elided with the whole of it in a tooltip."""

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics


def test_model_and_weights_stay_readable_in_a_narrow_dock(qtbot):
    """Leftover of issue 10: at 1024x700 the Model box showed the end of its text ("tnet_lite0 (bundled)")
    and a long weights file name was cut mid-word ("photos-efficientn")."""
    from explorer.core.session import Session
    from explorer.gui.bridge import SessionBridge
    from explorer.gui.widgets.controls import ControlsPanel

    session = Session()
    panel = ControlsPanel(SessionBridge(session))
    qtbot.addWidget(panel)
    panel.resize(230, 700)  # the Controls dock at 1024x700
    panel.show()
    panel.set_model_statuses({session.model: "bundled"})
    name = "photos-efficientnet_lite0-finetuned-head-epoch12.pt"
    session.update(weights=f"/data/checkpoints/{name}")
    qtbot.wait(50)

    edit = panel.model_combo.lineEdit()
    assert edit.text() == f"{session.model}  (bundled)"
    assert edit.cursorPosition() == 0  # the start of the name is in view, not its end
    assert panel.model_combo.toolTip() == edit.text()

    label = panel.weights_label
    shown = label.shown_text()
    metrics = QFontMetrics(label.font())
    assert metrics.horizontalAdvance(shown) <= label.contentsRect().width()  # nothing drawn past its edge
    assert "…" in shown and shown.startswith("photos") and shown.endswith(".pt")  # both ends readable
    assert label.toolTip() == f"/data/checkpoints/{name}"  # the whole path on hover
    assert label.text() == name

    session.update(weights="random")
    assert label.shown_text() == label.text() == "random (seeded)" and "random" in label.toolTip()
    assert label.alignment() & Qt.AlignmentFlag.AlignVCenter


def test_the_classes_box_does_not_claim_the_map_colours_when_another_colouring_is_shown(qtbot):
    """Coloured by a file-name regex, the Classes box still showed blue for 'animals' and orange for
    'things' while the map drew neither; now its swatches go and a note names the colouring."""
    from types import SimpleNamespace

    import numpy as np

    from explorer.core.analysis.metadata import Colouring
    from explorer.core.session import Session, class_colour
    from explorer.gui.bridge import SessionBridge
    from explorer.gui.widgets.controls import ControlsPanel

    rows = [SimpleNamespace(index=i, path=f"{c}/{n}.jpg", label=c) for i, (c, n) in
            enumerate([("animals", "cat"), ("animals", "dog"), ("things", "cup")])]
    run = SimpleNamespace(rows=rows, layer="x", path="/tmp/run", manifest={"layers": [{}]},
                          layer_shape=lambda: (4,), receptive_field=lambda: None)
    session = Session()
    panel = ControlsPanel(SessionBridge(session))
    qtbot.addWidget(panel)
    panel.show()
    session.set_run(run)
    legend = panel.legend

    def swatch_rgb(row):
        image = legend.item(row).icon().pixmap(12, 12).toImage()
        return image.pixelColor(6, 6).getRgb()[:3] if not image.isNull() else None

    assert swatch_rgb(0) == class_colour(0) and panel.colour_note.isHidden()
    colouring = Colouring({"by": "regex"}, "file-name regex ^(\\w)", np.array([0, 1, 2]),
                          [(200, 0, 0), (0, 200, 0), (0, 0, 200), (128, 128, 128)], [])
    session.set_colour_by(colouring)
    assert swatch_rgb(0) is None and swatch_rgb(1) is None  # no class colours the map does not use
    assert not panel.colour_note.isHidden() and "file-name regex ^(\\w)" in panel.colour_note.text()
    assert legend.item(0).text().startswith("animals")  # still there to hide a class
    session.set_colour_by(None)
    assert swatch_rgb(0) == class_colour(0) and panel.colour_note.isHidden()
