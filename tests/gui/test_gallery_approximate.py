"""Past APPROX_ABOVE images (with faiss installed) the gallery's neighbours come from the approximate index,
built in the analysis lane, and the caption says so (issue 16). The threshold is lowered to the test's run."""

import numpy as np
import pytest

from tests.gui.test_map import brute_force_cosine, gallery, select_and_wait, view  # noqa: F401 (fixtures)

pytest.importorskip("faiss", reason="the [ann] extra is not installed")


def test_past_the_threshold_the_gallery_uses_the_approximate_index(qtbot, view, gallery, monkeypatch):  # noqa: F811
    from explorer.core.analysis import approximate

    monkeypatch.setattr(approximate, "APPROX_ABOVE", 10)
    gallery._index, gallery._index_key = None, None  # built again under the lowered threshold
    gallery.k_spin.setValue(5)
    select_and_wait(qtbot, gallery, 7)
    assert not gallery._index.exact
    assert "approximate neighbours" in gallery.caption.text()
    expected = brute_force_cosine(np.asarray(view.session.run.features, np.float64), 7, 5)
    assert view.session.neighbours == expected  # a small run: every cell read, so the exact answer
