"""The Layer box (issue 10): a searchable tree by block, block names as their output, pass-through
nodes hidden, a recommended mark, columns never clipped."""

import pytest
import torch
import torchvision
from PySide6.QtCore import Qt

from explorer.core.model.layers import list_layers
from explorer.gui.widgets.layer_picker import LayerPicker
from tests.gui.test_app import run_pipeline
from tests.gui.test_neurons import clipped_texts


@pytest.fixture(scope="module")
def resnet_layers():
    torch.manual_seed(0)
    return list_layers(torchvision.models.resnet18(weights=None).eval(), 64).layers


def rows(popup, parent=None):
    """(name column text, full name) of the rows the popup's tree shows under `parent`, in order."""
    from PySide6.QtCore import QModelIndex

    parent = parent or QModelIndex()
    proxy = popup.proxy
    return [(proxy.index(r, 0, parent).data(), proxy.index(r, 0, parent).data(Qt.ItemDataRole.UserRole + 1))
            for r in range(proxy.rowCount(parent))]


def test_tree_by_block_search_recommended_and_block_names(qtbot, resnet_layers):
    picker = LayerPicker()
    qtbot.addWidget(picker)
    picker.resize(180, 30)
    picker.show()
    picker.set_layers(resnet_layers, "layer2.1.add")
    assert picker.count() == len(resnet_layers) and picker.currentData() == "layer2.1.add"
    assert picker.itemData(0) == "conv1" and picker.findData("fc") == len(resnet_layers) - 1
    picker.open()
    popup = picker.popup
    assert popup.isVisible()
    top = [full for _, full in rows(popup)]
    assert top == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten",
                   "fc"]  # 11 rows instead of 70
    layer3 = popup.proxy.index(top.index("layer3"), 0)
    assert [full for _, full in rows(popup, layer3)] == ["layer3.0", "layer3.1"]
    # the recommended layer (the model's default) carries the mark
    hits = popup.model.match(popup.model.index(0, 0), Qt.ItemDataRole.UserRole + 1, "layer4.1.relu_1", 1,
                             Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
    assert hits and "★ recommended" in hits[0].data()
    # shapes and receptive fields in columns as wide as their text, and the popup as wide as the columns
    tree = popup.tree
    for column in (1, 2):
        widest = max(tree.fontMetrics().horizontalAdvance(popup.model.itemFromIndex(h).text())
                     for h in popup.model.match(popup.model.index(0, column), Qt.ItemDataRole.DisplayRole, "*", -1,
                                                Qt.MatchFlag.MatchWildcard | Qt.MatchFlag.MatchRecursive))
        assert tree.columnWidth(column) >= widest
    assert tree.viewport().width() >= sum(tree.columnWidth(c) for c in range(3))

    # search: the matching layers with the blocks that hold them
    popup.search.setText("conv2")
    shown = []

    def walk(parent):
        for text, full in rows(popup, parent):
            index = popup.proxy.match(popup.proxy.index(0, 0, parent), Qt.ItemDataRole.UserRole + 1, full, 1)[0]
            if popup.proxy.rowCount(index):
                walk(index)
            else:
                shown.append(full)

    from PySide6.QtCore import QModelIndex
    walk(QModelIndex())
    assert shown and all("conv2" in name for name in shown) and len(shown) == 8

    # a block name typed and Enter: its output node, as torchvision's create_feature_extractor reads it
    with qtbot.waitSignal(picker.layer_chosen) as chosen:
        popup.search.setText("layer3")
        popup.search.returnPressed.emit()
    assert chosen.args == ["layer3.1.relu_1"] and not popup.isVisible()
    # a block row, activated (double-click / Enter), chooses its output too
    picker.open()
    with qtbot.waitSignal(picker.layer_chosen) as chosen:
        popup.tree.activated.emit(popup.proxy.index(top.index("layer1"), 0))
    assert chosen.args == ["layer1.1.relu_1"]
    # a layer row, clicked
    picker.open()
    with qtbot.waitSignal(picker.layer_chosen) as chosen:
        popup.tree.clicked.emit(popup.proxy.index(top.index("avgpool"), 2))
    assert chosen.args == ["avgpool"]
    popup.hide()


def test_pass_through_nodes_are_hidden_unless_asked_for(qtbot):
    from explorer.core.model.zoo import load_model

    layers = list_layers(load_model("efficientnet_lite0").module, 64).layers
    picker = LayerPicker()
    qtbot.addWidget(picker)
    picker.set_layers(layers, "blocks.5.2.bn2")
    popup = picker.popup

    def visible(name):
        hits = popup.model.match(popup.model.index(0, 0), Qt.ItemDataRole.UserRole + 1, name, 1,
                                 Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        return hits and popup.proxy.mapFromSource(hits[0]).isValid()

    assert not visible("blocks.5.2.aa") and not visible("blocks.5.2.drop_path") and visible("blocks.5.2.bn2")
    popup.passthrough.setChecked(True)
    assert visible("blocks.5.2.aa") and visible("blocks.5.2.drop_path")
    assert picker.recommended == "bn2" and picker.currentData() == "blocks.5.2.bn2"


def test_the_app_embeds_a_block_by_its_output_and_the_layer_box_is_not_clipped(qtbot, window, photo_folder, shots):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    controls = window.controls
    window.controls_dock.raise_()
    picker = controls.layer_picker
    assert picker.count() > 10 and picker.currentData() == window.session.run.layer == "layer4.1.relu_1"
    assert "recommended" in controls.layer_info.text()
    picker.open()
    top = [full for _, full in rows(picker.popup)]
    with qtbot.waitSignal(window.pipeline_finished, timeout=120_000):
        picker.popup.tree.activated.emit(picker.popup.proxy.index(top.index("layer3"), 0))
    assert window.session.layer == window.session.run.layer == "layer3.1.relu_1"
    assert picker.currentData() == "layer3.1.relu_1" and "256×14×14" in controls.layer_info.text()
    for size in ((1024, 700), (1600, 1000)):
        window.resize(*size)
        qtbot.wait(150)
        window.grab().save(str(shots / f"app-layer-box-{size[0]}.png"))
        assert [t for t in clipped_texts(controls.layer_info.parentWidget()) if "layer" in t.lower()] == [], size
