"""Tools > Fine-tune: the chart fills epoch by epoch, the checkpoint is written, and the map re-embeds with it."""

import torch

from tests.gui.test_app import run_pipeline


def test_finetune_then_embed_with_the_new_head(qtbot, window, photo_folder, tmp_path):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    dialog = window.show_finetune()
    dialog.out.setText(str(tmp_path / "head.pt"))
    dialog.epochs.setValue(4)
    dialog.val_fraction.setValue(0.25)
    with qtbot.waitSignal(dialog.finished_training, timeout=120_000):
        dialog.start_button.click()
    result = dialog.result
    assert result is not None, dialog.status.text()
    assert len(dialog.chart.epochs) == len(result.epochs) == 4 and dialog.chart.probe == result.probe_val_accuracy
    assert [e.epoch for e in dialog.chart.epochs] == [1, 2, 3, 4]
    saved = torch.load(tmp_path / "head.pt", weights_only=True)
    assert saved["classes"] == ["animals", "things"] and saved["state_dict"]["fc.weight"].shape == (2, 512)
    assert "Saved" in dialog.status.text() and dialog.use_button.isEnabled()

    with qtbot.waitSignal(window.pipeline_finished, timeout=180_000):
        dialog.use_button.click()
    assert window.session.weights == str(tmp_path / "head.pt")
    assert window.session.run.weights.startswith("file:head.pt") and not window.last_error
    assert window._prepared.model.categories == ["animals", "things"]
    # only the head was trained, so the map shows the head's outputs: two numbers per image
    assert window.session.run.layer == "fc" and window.session.run.features.shape[1] == 2


def test_cancel_writes_no_checkpoint(qtbot, window, photo_folder, tmp_path):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    dialog = window.show_finetune()
    dialog.out.setText(str(tmp_path / "head.pt"))
    dialog.unfreeze.setValue(1)
    dialog.epochs.setValue(50)
    with qtbot.waitSignal(window.jobs.training.cancelled, timeout=60_000):
        dialog.start_button.click()
        qtbot.waitUntil(lambda: window.jobs.training.busy, timeout=10_000)
        dialog.close()
    assert not (tmp_path / "head.pt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("head.pt")] == []


def test_compare_maps_links_the_selection_both_ways(qtbot, window, photo_folder, tmp_path):
    run_pipeline(qtbot, window, photo_folder, projection="pca")
    dialog = window.show_finetune()
    dialog.out.setText(str(tmp_path / "head.pt"))
    dialog.epochs.setValue(2)
    dialog.unfreeze.setValue(1)
    dialog.val_fraction.setValue(0.25)
    with qtbot.waitSignal(dialog.finished_training, timeout=180_000):
        dialog.start_button.click()
    assert dialog.compare_button.isEnabled()
    dialog.compare_button.click()
    compare = window.compare_window
    with qtbot.waitSignal(compare.opened, timeout=180_000):
        pass
    other, main = compare.other, window.session
    assert other.run.layer == main.run.layer and other.run.weights.startswith("file:head.pt")
    assert other.layout.shape == main.layout.shape
    # the last block was trained, so the map at that layer moved
    import numpy as np

    assert not np.allclose(np.asarray(other.run.features), np.asarray(main.run.features))
    by_path = {r.path: r.index for r in other.run.rows}
    pick = main.run.rows[3]
    main.select([pick.index])
    assert other.selection == [by_path[pick.path]]
    other.select([by_path[main.run.rows[5].path]])
    assert main.selection == [5]
    compare.close()
    main.select([1])  # the closed window no longer follows
