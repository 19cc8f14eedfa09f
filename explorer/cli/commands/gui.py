"""explorer gui [DATASET]: the desktop app. Only declared here: explorer/__main__.py starts it,
so the command line never imports Qt."""

from __future__ import annotations


def add_parser(sub) -> None:
    sp = sub.add_parser("gui", help="open the desktop app (the default without a command)")
    sp.add_argument("dataset", nargs="?", default=None, help="a folder or demo:digits (default: last used)")
    sp.add_argument("--model", default=None)
    sp.add_argument("--weights", default=None)
    sp.add_argument("--layer", default=None)
    sp.add_argument("--projection", choices=("pca", "tsne", "umap"), default=None)
    sp.add_argument("--screenshot", default=None, metavar="PATH",
                    help="run the pipeline, save the window to PATH once the final map is drawn, and exit")
