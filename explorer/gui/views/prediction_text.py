"""The gallery's line of an image's top-5 predictions (kept in the run at embedding time).

Reading five numbers from the run's memory maps is cheap enough for the GUI thread; the
Predictions object is kept per run so the arrays are opened once.
"""

from __future__ import annotations

from html import escape

_cache: dict = {}  # id(run) -> (run, Predictions or None)


def _predictions(run):
    from ...core.analysis.predictions import has_predictions, load_predictions

    kept = _cache.get(id(run))
    if kept is None or kept[0] is not run:
        try:
            preds = load_predictions(run) if has_predictions(run) else None
        except Exception:  # a damaged array: the gallery shows the image without its predictions
            preds = None
        _cache.clear()  # one run at a time
        kept = _cache[id(run)] = (run, preds)
    return kept[1]


def top5_html(run, index: int, k: int = 5) -> str:
    """'<br>top-5: tabby 44% · tiger cat 22% · …' for image `index`, or '' when the run has none."""
    if not hasattr(run, "has_array"):
        return ""
    preds = _predictions(run)
    if preds is None or not 0 <= index < len(preds.valid):
        return ""
    top = preds.top(index, k)
    if not top:
        return ""
    return "<br>top-5: " + " · ".join(f"{escape(p.name)} {p.probability:.0%}" for p in top)
