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
