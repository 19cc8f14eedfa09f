"""The bridge between the core Session and Qt: one Qt signal per change, always on the GUI thread."""

import threading

import numpy as np

from explorer.core.session import SETTINGS, Session
from explorer.gui.bridge import SessionBridge


def record(bridge):
    seen = []
    for name in ("settings_changed", "run_changed", "layout_changed", "selection_changed", "hidden_classes_changed",
                 "colour_changed"):
        getattr(bridge, name).connect(lambda *args, name=name: seen.append((name, threading.current_thread())))
    bridge.focus_requested.connect(lambda i: seen.append((f"focus {i}", threading.current_thread())))
    bridge.neighbour_k_changed.connect(lambda k: seen.append((f"k {k}", threading.current_thread())))
    return seen


def test_each_session_change_is_one_qt_signal(qtbot):
    session = Session()
    bridge = SessionBridge(session)
    seen = record(bridge)
    values = {"dataset": "/data", "model": "resnet18", "weights": "random", "layer": "layer4", "layers": ("a",),
              "device": "cpu", "projection": "pca", "perplexity": 5.0, "seed": 3}
    assert set(values) == set(SETTINGS)
    for name, value in values.items():
        setattr(session, name, value)
    session.set_layout(np.zeros((3, 2)), "pca")
    session.select([1], focus=True)
    session.toggle_class(0)
    session.colour_channel = 4
    session.neighbour_k = 5
    names = [name for name, _ in seen]
    assert names == ["settings_changed"] * len(SETTINGS) + ["layout_changed", "selection_changed", "focus 1",
                                                            "hidden_classes_changed", "colour_changed", "k 5"]
    session.select([1])  # no change, no signal
    assert len(seen) == len(names)


def test_a_change_made_on_a_worker_thread_reaches_views_on_the_gui_thread(qtbot):
    session = Session()
    bridge = SessionBridge(session)
    seen = record(bridge)
    worker = threading.Thread(target=session.select, args=([2],))
    with qtbot.waitSignal(bridge.selection_changed, timeout=5000):
        worker.start()
        worker.join()
    assert seen == [("selection_changed", threading.main_thread())]


def test_a_deleted_bridge_leaves_the_session_alone(qtbot):
    session = Session()
    bridge = SessionBridge(session)
    seen = record(bridge)
    del bridge
    session.select([3])  # no bridge left to call: nothing happens, nothing fails
    assert seen == []
