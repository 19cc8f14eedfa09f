"""The neighbour list as a table: what the gallery shows, written as CSV for a spreadsheet or a script.

    rows = neighbour_rows(run, query, index.query(query, k), metric)
    write_neighbours_csv("neighbours.csv", rows)
"""

from __future__ import annotations

import csv
import os

from ..run.export import spreadsheet_text

COLUMNS = ("rank", "index", "path", "label", "distance", "metric", "query_index", "query_path")


def neighbour_rows(run, query: int, found, metric: str) -> list[dict]:
    """One dict per neighbour (found: core Neighbour results, nearest first), naming the query too."""
    q = run.rows[query]
    # paths and labels that would start a formula get a leading apostrophe, as in the other CSV exports
    return [{"rank": rank, "index": n.index, "path": spreadsheet_text(run.rows[n.index].path),
             "label": spreadsheet_text(run.rows[n.index].label or ""), "distance": f"{n.distance:.6g}",
             "metric": metric, "query_index": query, "query_path": spreadsheet_text(q.path)}
            for rank, n in enumerate(found, 1)]


def write_neighbours_csv(path: str | os.PathLike, rows: list[dict]) -> int:
    """Write the rows (UTF-8, a header, the usual file mode); returns how many were written."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.DictWriter(f, COLUMNS)
        out.writeheader()
        out.writerows(rows)
    return len(rows)
