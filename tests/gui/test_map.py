"""The map (scatter) on its own, on a small synthetic run: hover card, t-SNE animation and zoom, the
point cloud's bounds, search, colourings, neighbours, selection operations, style and keys."""

from dataclasses import dataclass

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


@dataclass
class Row:
    index: int
    path: str
    label: str | None


class FakeRun:
    """What the map, the gallery and the session read of a run: rows, features, statuses."""

    def __init__(self, paths, labels, features=None, root="/data/icons"):
        self.rows = [Row(i, p, l) for i, (p, l) in enumerate(zip(paths, labels))]
        self.layer = "layer4"
        self.dataset_root = root
        n = len(paths)
        self.features = features if features is not None else np.random.default_rng(0).normal(size=(n, 8))
        self.done_mask = np.ones(n, bool)
        self.path = f"/runs/{id(self)}"

    model = "resnet18"
    manifest = {"layers": [{"name": "layer4", "stride": 32}]}

    def __len__(self):
        return len(self.rows)

    def counts(self):
        return {"embedded": len(self.rows), "failed": 0, "pending": 0}

    def failure_summary(self):
        return {}

    def layer_shape(self, layer=None):
        return (8,)

    def receptive_field(self, layer=None):
        return None

    def status(self, i):
        return "ok", ""

    def full_path(self, i):
        return f"{self.dataset_root}/{self.rows[i].path}"


DESIGNS = ("flat", "line", "solid")
OBJECTS = ("cat", "cup", "car", "key")


def icon_run():
    """4 objects (folders) x 3 designs (file-name prefixes) x 2 sizes = 24 images."""
    paths, labels = [], []
    for obj in OBJECTS:
        for design in DESIGNS:
            for size in (16, 32):
                paths.append(f"{obj}/{design}_{obj}_{size}.png")
                labels.append(obj)
    return FakeRun(paths, labels)


@pytest.fixture
def view(qtbot):
    from explorer.core.session import Session
    from explorer.gui.bridge import SessionBridge
    from explorer.gui.jobs import JobRunner
    from explorer.gui.thumbnails import ThumbnailCache
    from explorer.gui.views.scatter_view import ScatterView

    session = Session()
    bridge = SessionBridge(session)
    jobs = JobRunner()
    thumbs = ThumbnailCache(96)  # never given a run: no thumbnails, no decoding
    scatter = ScatterView(bridge, thumbs, jobs)
    qtbot.addWidget(scatter)
    scatter.resize(600, 500)
    scatter.show()
    qtbot.waitExposed(scatter)
    run = icon_run()
    session.set_run(run)
    rng = np.random.default_rng(1)
    session.set_layout(rng.normal(size=(len(run.rows), 2)) * 10, "pca")
    yield scatter
    jobs.cancel()
    jobs.wait(10_000)


def pixel_of(scatter, index):
    x, y = scatter.session.layout[index]
    scene = scatter.vb.mapViewToScene(QPointF(float(x), float(y)))
    return scatter.plot.mapFromScene(scene)


def hover(qtbot, scatter, index):
    QTest.mouseMove(scatter.plot.viewport(), QPoint(1, 1))  # a move, even if the pointer was there already
    qtbot.wait(40)  # pyqtgraph's scene drops moves closer than 1/60 s
    QTest.mouseMove(scatter.plot.viewport(), pixel_of(scatter, index))
    qtbot.waitUntil(lambda: scatter.card.isVisible() and scatter.card.index == index, timeout=3000)


def wheel(scatter, steps=1):
    vp = scatter.plot.viewport()
    centre = QPointF(vp.width() / 2, vp.height() / 2)
    ev = QWheelEvent(centre, vp.mapToGlobal(centre), QPoint(), QPoint(0, 120 * steps), Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)


def in_view(scatter, xy):
    (x0, x1), (y0, y1) = scatter.vb.viewRange()
    return (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)


# --- bug 7: the hover card --------------------------------------------------------------------------------
def test_the_hover_card_hides_when_the_pointer_leaves_the_map(qtbot, view):
    hover(qtbot, view, 3)
    QApplication.sendEvent(view.plot.viewport(), QEvent(QEvent.Type.Leave))
    assert not view.card.isVisible()


def test_the_hover_card_is_opaque_over_points(qtbot, view):
    view.plot.setBackground("k")  # whatever lies under the card must not show through it
    hover(qtbot, view, 3)
    card = view.card
    image = view.grab().toImage()
    # a pixel inside the card's margin, away from its border, text and thumbnail
    colour = image.pixelColor(card.x() + 3, card.y() + card.height() // 2)
    assert (colour.red(), colour.green(), colour.blue()) == (255, 255, 255)
    assert card.testAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # it never steals the hover


# --- bug 10: the t-SNE animation and the user's zoom -----------------------------------------------------
def test_t_sne_frames_stay_fitted_until_the_user_zooms_and_the_end_keeps_the_zoom(qtbot, view):
    s = view.session
    rng = np.random.default_rng(2)
    final = rng.normal(size=(len(s.layout), 2)) * 50
    for scale in (1e-3, 0.05, 0.5, 1.0):  # early exaggeration: a speck, then spreading past the PCA's view
        s.set_layout(final * scale, "tsne-partial")
        assert in_view(view, s.layout).all()
        (x0, x1), _ = view.vb.viewRange()
        spread = np.ptp(s.layout[:, 0])
        assert spread > 0.6 * (x1 - x0)  # fitted, not a speck in the middle
    wheel(view, 2)  # the user zooms in
    zoomed = view.vb.viewRange()
    s.set_layout(final * 1.2, "tsne-partial")
    assert np.allclose(view.vb.viewRange(), zoomed)
    s.set_layout(final * 1.3, "tsne")  # the last frame
    assert np.allclose(view.vb.viewRange(), zoomed)
    view.autorange()  # View > Reset zoom fits again, and the next frames follow the map again
    s.set_layout(final * 3, "tsne")
    assert in_view(view, s.layout).all()


def test_a_new_projection_after_a_zoom_is_fitted(qtbot, view):
    s = view.session
    s.set_layout(s.layout, "tsne")
    wheel(view, 3)
    new = np.random.default_rng(5).normal(size=(len(s.layout), 2)) * 100 + 500  # other perplexity: elsewhere
    s.set_layout(new, "pca")  # a new t-SNE starts from its PCA
    assert in_view(view, new).all()


def test_the_window_keeps_the_user_s_zoom_when_the_pipeline_finishes(qtbot, window):
    run = icon_run()
    window.session.set_run(run)
    window.session.set_layout(np.random.default_rng(3).normal(size=(len(run.rows), 2)), "tsne-partial")
    wheel(window.scatter, 3)
    zoomed = window.scatter.vb.viewRange()
    window.session.set_layout(window.session.layout * 1.1, "tsne")
    window._finished()  # what the pipeline does after the last frame
    assert np.allclose(window.scatter.vb.viewRange(), zoomed)


# --- the point cloud's bounds hold its dots, not only their centres -----------------------------------------
def test_the_point_cloud_bounds_hold_whole_dots(qtbot, view):
    cloud = view.points
    assert len(cloud) == len(view.session.layout)
    bounds = cloud.sceneBoundingRect()
    r = cloud.size / 2
    for i in range(len(view.session.layout)):
        x, y = view.session.layout[i]
        c = view.vb.mapViewToScene(QPointF(float(x), float(y)))
        # the disc drawn around each centre, in scene pixels, independent of the item's own sums
        assert bounds.left() <= c.x() - r and c.x() + r <= bounds.right()
        assert bounds.top() <= c.y() - r and c.y() + r <= bounds.bottom()


# --- search by file name ----------------------------------------------------------------------------------
@pytest.fixture
def panels(qtbot, view):
    from explorer.gui.widgets.map_panel import MapPanel

    panel = MapPanel(view.bridge, view.jobs)
    qtbot.addWidget(panel)
    panel.show()
    return panel


def names(run):
    return [r.path.split("/")[-1] for r in run.rows]


def test_search_rings_counts_and_lists_matches_and_a_listed_match_selects_it(qtbot, view, panels):
    search, s = panels.search, view.session
    view.autorange()
    search.query.setText("CAT_3")
    search.apply()
    expected = [i for i, n in enumerate(names(s.run)) if "cat_3" in n.lower()]  # independent: a plain loop
    assert s.matches.tolist() == expected and len(expected) == 3
    assert search.message.text() == "3 matches"
    assert [search.list.item(i).text() for i in range(search.list.count())] == [names(s.run)[i] for i in expected]
    assert sorted(view.shown_matches.tolist()) == expected and len(view.match_rings) == 3
    item = search.list.item(1)
    search.list.itemClicked.emit(item)
    assert s.selection == [expected[1]]
    (x0, x1), _ = view.vb.viewRange()
    assert abs((x0 + x1) / 2 - s.layout[expected[1], 0]) < 1e-3 * (x1 - x0)
    search.select_all.click()
    assert s.selection == expected


def test_a_bad_regex_is_an_inline_message_and_clears_the_rings(qtbot, view, panels):
    search, s = panels.search, view.session
    search.query.setText("cat")
    search.apply()
    assert len(view.match_rings) == 6
    search.regex.setChecked(True)
    search.query.setText("(cat")
    search.apply()
    assert "Not a valid regular expression: '(cat'" in search.message.text()
    assert "b00020" in search.message.styleSheet()
    assert s.matches is None and len(view.match_rings) == 0 and search.list.count() == 0
    search.query.setText(r"^(flat|solid)_c")
    search.apply()
    expected = [i for i, n in enumerate(names(s.run)) if n.startswith(("flat_c", "solid_c"))]
    assert s.matches.tolist() == expected and f"{len(expected)} matches" == search.message.text()


# --- colour by metadata -------------------------------------------------------------------------------------
def drawn_colours(view):
    """{item: rgb} of the points the map draws now."""
    table = view.points._colours
    return {int(i): table[c][:3] for i, c in zip(view.shown_index, view.points._codes)}


def test_colour_by_a_regex_group_of_the_file_name(qtbot, view, panels):
    colour, s = panels.colour, view.session
    colour.by.setCurrentIndex(colour.by.findData("regex"))
    colour.pattern.setText(r"^([a-z]+)_")
    with qtbot.waitSignal(colour.coloured, timeout=10_000):
        colour.apply()
    designs = [n.split("_")[0] for n in names(s.run)]
    by_item = drawn_colours(view)
    assert len(by_item) == len(designs)
    # one colour per design, different designs different colours (independent of the codes' order)
    per_design = {d: {by_item[i] for i, x in enumerate(designs) if x == d} for d in DESIGNS}
    assert all(len(c) == 1 for c in per_design.values())
    assert len({next(iter(c)) for c in per_design.values()}) == 3
    assert [colour.legend.item(i).text() for i in range(colour.legend.count())] == ["flat  (8)", "line  (8)",
                                                                                     "solid  (8)"]
    assert view.toolbar.colour_label.text() == "Colour: ^([a-z]+)_ (group 1) (legend in the Map tab)"
    # a regex without a group says so, inline, and leaves the colouring as it was
    colour.pattern.setText("^[a-z]+_")
    with qtbot.waitSignal(colour.coloured, timeout=10_000):
        colour.apply()
    assert "has 0 groups" in colour.message.text() and s.colour_by is not None
    colour.by.setCurrentIndex(colour.by.findData("label"))  # back to the label
    assert s.colour_by is None
    objects = [r.label for r in s.run.rows]
    by_item = drawn_colours(view)
    assert all(len({by_item[i] for i, o in enumerate(objects) if o == obj}) == 1 for obj in OBJECTS)


def test_colour_by_a_csv_column_and_its_errors(qtbot, view, panels, tmp_path):
    colour, s = panels.colour, view.session
    bad = tmp_path / "bad.csv"
    bad.write_text("path,year\ncat/flat_cat_16.png,2001\ncat/line_cat_16.png,2002,extra\n")
    assert not colour.set_csv(str(bad))
    assert "bad.csv row 3: 3 fields, the header has 2" in colour.message.text()
    good = tmp_path / "years.csv"
    rows = [(p, 2000 + i) for i, p in enumerate(r.path for r in s.run.rows) if i % 4]
    good.write_text("file;year;team\n" + "".join(f"{s.run.dataset_root}/{p};{y};t{y % 2}\n" for p, y in rows))
    assert colour.set_csv(str(good))
    colour.by.setCurrentIndex(colour.by.findData("csv"))
    assert [colour.column.itemText(i) for i in range(colour.column.count())] == ["year", "team"]
    with qtbot.waitSignal(colour.coloured, timeout=10_000):
        colour.apply()
    c = s.colour_by
    assert c.numeric and c.missing == 6 and "without a value (grey)" in colour.message.text()
    by_item = drawn_colours(view)
    grey = (140, 140, 140)
    assert [by_item[i] == grey for i in range(len(s.run.rows))] == [i % 4 == 0 for i in range(len(s.run.rows))]
    first, last = rows[0][0], rows[-1][0]
    index = {r.path: r.index for r in s.run.rows}
    assert by_item[index[first]] == c.table[0] and by_item[index[last]] == c.table[31]  # low and high ends


# --- neighbours: on the map, named, exported, opened, and the file actions ---------------------------------
@pytest.fixture
def gallery(qtbot, view):
    from explorer.gui.thumbnails import ThumbnailCache
    from explorer.gui.views.gallery_view import GalleryView

    g = GalleryView(view.bridge, view.thumbs, ThumbnailCache(320), view.jobs)
    qtbot.addWidget(g)
    g.resize(420, 600)
    g.show()
    g._run_changed()  # the run arrived before the gallery did
    return g


def brute_force_cosine(features, i, k):
    f = features / np.linalg.norm(features, axis=1, keepdims=True)
    d = 1 - f @ f[i]
    order = [j for j in np.argsort(d, kind="stable") if j != i]
    return order[:k]


def select_and_wait(qtbot, gallery, index):
    with qtbot.waitSignal(gallery.neighbours_shown, timeout=20_000):
        gallery.session.select([index])
        if gallery._index is not None:
            gallery.refresh()


def test_neighbours_are_ringed_named_and_exported(qtbot, view, gallery, tmp_path):
    import csv

    s = view.session
    gallery.k_spin.setValue(5)
    select_and_wait(qtbot, gallery, 7)
    expected = brute_force_cosine(s.run.features, 7, 5)
    assert s.neighbours == expected
    xs = sorted(view.neighbour_marks.getData()[0].tolist())
    assert np.allclose(xs, sorted(s.layout[expected, 0].tolist()))
    captions = [gallery.list.item(i).text() for i in range(gallery.list.count())]
    assert [c.split("\n")[0] for c in captions] == [s.run.rows[j].path.split("/")[-1] for j in expected]
    out = tmp_path / "neighbours.csv"
    with qtbot.waitSignal(view.jobs.io.idle, timeout=10_000):
        gallery.export_neighbours(str(out))
    rows = list(csv.DictReader(out.open()))
    assert [int(r["index"]) for r in rows] == expected
    assert [r["path"] for r in rows] == [s.run.rows[j].path for j in expected]
    assert rows[0]["rank"] == "1" and rows[0]["query_path"] == s.run.rows[7].path and rows[0]["metric"] == "cosine"
    s.select([])  # no single selection: no neighbours ringed
    assert s.neighbours == [] and len(view.neighbour_marks.getData()[0]) == 0


def test_enter_selects_a_neighbour_and_a_double_click_opens_it_large(qtbot, view, gallery, monkeypatch):
    from explorer.gui.views import gallery_view

    s = view.session
    select_and_wait(qtbot, gallery, 2)
    item = gallery.list.item(1)
    target = item.data(Qt.ItemDataRole.UserRole)
    gallery.list.setFocus()
    gallery.list.setCurrentItem(item)
    QTest.keyClick(gallery.list, Qt.Key.Key_Return)
    assert s.selection == [target]
    opened = []
    monkeypatch.setattr(gallery_view, "open_large", lambda parent, jobs, run, index: opened.append(index))
    qtbot.waitUntil(lambda: gallery.list.count() > 0, timeout=20_000)
    first = gallery.list.item(0)
    pos = gallery.list.visualItemRect(first).center()
    QTest.mouseDClick(gallery.list.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert opened == [first.data(Qt.ItemDataRole.UserRole)]
    QTest.mouseDClick(gallery.preview, Qt.MouseButton.LeftButton)  # the preview: the selected image
    assert opened[-1] == s.selection[0]


def test_the_file_menu_copies_the_path_and_opens_the_folder(qtbot, tmp_path, monkeypatch):
    from PySide6.QtGui import QDesktopServices, QGuiApplication

    from explorer.gui.widgets.image_viewer import file_menu

    (tmp_path / "cat").mkdir()
    run = FakeRun(["cat/flat_cat_16.png", "cat/line_cat_16.png"], ["cat", "cat"], root=str(tmp_path))
    urls = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: urls.append(url) or True))
    menu = file_menu(None, run, 1)
    copy, folder = menu.actions()
    copy.trigger()
    assert QGuiApplication.clipboard().text() == str(tmp_path / "cat" / "line_cat_16.png")
    folder.trigger()
    assert [u.toLocalFile() for u in urls] == [str(tmp_path / "cat")]
    demo = FakeRun(["3/digit-0003.png"], ["3"], root="demo:digits")
    demo_menu = file_menu(None, demo, 0)
    assert not demo_menu.actions()[1].isEnabled()  # no folder to open for generated images


# --- selection operations, named selections ----------------------------------------------------------------
def click(qtbot, view, index, mods=Qt.KeyboardModifier.NoModifier):
    qtbot.wait(40)
    QTest.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, mods, pixel_of(view, index))


def test_clicks_and_regions_replace_add_intersect_and_subtract(qtbot, view):
    s = view.session
    view.autorange()
    K = Qt.KeyboardModifier
    click(qtbot, view, 1)
    assert s.selection == [1]
    click(qtbot, view, 4, K.ShiftModifier)
    assert s.selection == [1, 4]
    click(qtbot, view, 1, K.ControlModifier)
    assert s.selection == [4]
    click(qtbot, view, 4, K.ControlModifier | K.ShiftModifier)
    assert s.selection == [4]
    (x0, x1), (y0, y1) = view.vb.viewRange()
    left = np.array([[x0, y0], [(x0 + x1) / 2, y0], [(x0 + x1) / 2, y1], [x0, y1]])
    in_left = set(np.flatnonzero(s.layout[:, 0] <= (x0 + x1) / 2).tolist())  # independent: a comparison
    everything = set(range(len(s.layout)))
    view.toolbar.mode_buttons["subtract"].click()
    assert s.selection_mode == "subtract"
    s.select(sorted(everything))
    view.vb.region_selected.emit(left, False)
    assert s.selection == sorted(everything - in_left)
    view.toolbar.mode_buttons["intersect"].click()
    s.select([0, 1, 2, 3])
    view.vb.region_selected.emit(left, False)
    assert s.selection == sorted({0, 1, 2, 3} & in_left)
    view.toolbar.mode_buttons["add"].click()
    s.select([])
    view.vb.region_selected.emit(left, False)
    assert s.selection == sorted(in_left)
    s.selection_mode = "replace"  # set elsewhere (a session file): the bar follows
    assert view.toolbar.mode_buttons["replace"].isChecked()


def test_named_selections_are_kept_and_combine(qtbot, view, panels):
    s, named = view.session, panels.selections
    s.select([1, 2, 3])
    named.name.setText("first")
    named.save.click()
    s.select([3, 4])
    named.save_current()  # no name: a numbered one
    assert s.named_selections == {"first": (1, 2, 3), "selection 2": (3, 4)}
    assert [named.list.item(i).text() for i in range(2)] == ["first  (3)", "selection 2  (2)"]
    s.selection_mode = "intersect"
    named.list.setCurrentRow(0)
    named.recall_current()
    assert s.selection == [3]
    named.delete_current()
    assert list(s.named_selections) == ["selection 2"]


# --- point size, opacity, the density view; keys ------------------------------------------------------------
def test_point_size_opacity_and_density_at_any_count(qtbot, view):
    s, bar = view.session, view.toolbar
    bar.size.setValue(12)
    assert s.point_size == 12 and view.points.size == 12
    bar.opacity.setValue(40)
    assert s.point_opacity == 0.4 and {c[3] for c in view.points._colours} == {102}
    assert view.mode == "points"
    bar.density.setChecked(True)
    assert s.density_view and view.mode == "density" and view.density.isVisible() and len(view.points) == 0
    bar.density.setChecked(False)
    assert view.mode == "points" and len(view.points) == len(s.layout)


def test_keys_escape_clears_arrows_pan_plus_minus_zoom(qtbot, view):
    s = view.session
    view.plot.setFocus()
    s.select([1, 2])
    QTest.keyClick(view.plot, Qt.Key.Key_Escape)
    assert s.selection == []
    (x0, x1), (y0, y1) = view.vb.viewRange()
    QTest.keyClick(view.plot, Qt.Key.Key_Right)
    (a0, a1), (b0, b1) = view.vb.viewRange()
    assert np.isclose(a0 - x0, 0.1 * (x1 - x0)) and np.isclose(b0, y0)
    QTest.keyClick(view.plot, Qt.Key.Key_Up)
    assert np.isclose(view.vb.viewRange()[1][0] - y0, 0.1 * (y1 - y0))
    width = np.diff(view.vb.viewRange()[0])[0]
    QTest.keyClick(view.plot, Qt.Key.Key_Plus)
    assert np.isclose(np.diff(view.vb.viewRange()[0])[0], 0.8 * width)
    QTest.keyClick(view.plot, Qt.Key.Key_Minus)
    assert np.isclose(np.diff(view.vb.viewRange()[0])[0], width)
    s.set_layout(s.layout * 2, "tsne")  # the user moved the view: a new layout leaves it
    assert np.isclose(np.diff(view.vb.viewRange()[0])[0], width)


# --- session files in the window ------------------------------------------------------------------------------
def test_a_session_saved_and_reopened_in_a_new_window(qtbot, window, tmp_path, shots):
    from explorer.gui.main_window import MainWindow
    from tests.gui.test_app import run_pipeline

    from tests.gui.icon_set import make_icon_set

    icons = make_icon_set(tmp_path / "icons", variants=2)  # 4 objects x 3 designs x 2
    run_pipeline(qtbot, window, icons, model="alexnet", projection="pca")
    s = window.session
    s.select([1, 5])
    s.save_selection("two")
    s.select([2])
    s.update(point_size=10, selection_mode="add")
    colour = window.map_panel.colour
    colour.by.setCurrentIndex(colour.by.findData("regex"))
    colour.pattern.setText(r"^([a-z]+)_")  # the design
    with qtbot.waitSignal(colour.coloured, timeout=20_000):
        colour.apply()
    path = str(tmp_path / "study.explorer.json")
    assert window.session_files.save(path)

    other = MainWindow(remember=False)
    qtbot.addWidget(other)
    other.show()
    with qtbot.waitSignal(other.session_files.restored, timeout=180_000):
        assert other.session_files.open(path)
    t = other.session
    paths = [r.path for r in t.run.rows]
    assert [paths[i] for i in t.selection] == [s.run.rows[2].path]
    assert {paths[i] for i in t.named_selections["two"]} == {s.run.rows[1].path, s.run.rows[5].path}
    assert (t.model, t.weights, t.projection, t.point_size, t.selection_mode) == ("alexnet", "random", "pca", 10,
                                                                                   "add")
    designs = [p.split("/")[-1].split("_")[0] for p in paths]  # independent: the prefix before _
    cats = [text for text, _, _ in t.colour_by.legend]
    assert cats == ["duotone", "flat", "line"] and [cats[c] for c in t.colour_by.codes] == designs
    assert other.map_panel.colour.pattern.text() == r"^([a-z]+)_"  # the panel shows the restored colouring
    qtbot.waitUntil(lambda: t.layout is not None and t.layout_method == "pca", timeout=60_000)
    qtbot.wait(300)
    other.grab().save(str(shots / "session-reopened-icons.png"))
    other.jobs.cancel()
    other.jobs.wait(30_000)

    bad = tmp_path / "old.json"
    bad.write_text('{"format": "cnn-feature-explorer session", "version": 7, "dataset": "x"}')
    assert not window.session_files.open(str(bad))
    assert "newer version of the app (session format 7)" in window.banner.text() and window.banner.isVisibleTo(window)
    assert window.session.dataset == str(icons)  # the map on screen stays


def test_a_big_run_is_searched_in_the_analysis_lane(qtbot, view, panels, monkeypatch):
    from explorer.gui.widgets import search_panel

    monkeypatch.setattr(search_panel, "SYNC_LIMIT", 0)  # every run counts as big here
    search, s = panels.search, view.session
    search.query.setText("line")
    with qtbot.waitSignal(search.searched, timeout=10_000):
        search.apply()
        assert search.message.text() == "Searching…"  # the window goes on while the lane searches
    assert s.matches.tolist() == [i for i, n in enumerate(names(s.run)) if "line" in n]
    assert search.message.text() == "8 matches" and len(view.match_rings) == 8
    search.regex.setChecked(True)  # a bad pattern is said at once, without a job
    search.query.setText("[a-")
    search.apply()
    assert "Not a valid regular expression" in search.message.text() and s.matches is None


def test_the_gallery_can_be_drawn_into_an_image(qtbot, gallery):
    """Its metric box was named `metric`, shadowing QWidget.metric(): any grab of it raised in Qt."""
    image = gallery.grab().toImage()
    assert image.width() == gallery.width() and not image.isNull()


def test_a_double_click_on_a_point_opens_it_large(qtbot, view, monkeypatch):
    from explorer.gui.views import scatter_view

    opened = []
    monkeypatch.setattr(scatter_view, "open_large", lambda parent, jobs, run, index: opened.append(index))
    view.autorange()
    qtbot.wait(40)
    vp, pos = view.plot.viewport(), pixel_of(view, 6)
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, pos=pos)  # as a real double-click comes: click, then
    QApplication.sendEvent(vp, QMouseEvent(QEvent.Type.MouseButtonDblClick, QPointF(pos), vp.mapToGlobal(QPointF(pos)),
                                           Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton,
                                           Qt.KeyboardModifier.NoModifier))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=pos)
    assert opened == [6] and view.session.selection == [6]
