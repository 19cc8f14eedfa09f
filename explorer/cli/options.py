"""Options several sub-commands share."""

from __future__ import annotations


def weights(value: str | None) -> str | None:
    """'pretrained' or nothing: the model's own weights (None); else 'random' or a file path."""
    return None if value in (None, "", "pretrained") else value


def layers(value) -> str | tuple[str, ...] | None:
    """--layer given once, several times or comma-separated: one layer (str), several (tuple) or None."""
    items = [value] if isinstance(value, str) else list(value or [])
    names = [name.strip() for item in items for name in item.split(",") if name.strip()]
    names = list(dict.fromkeys(names))
    return None if not names else names[0] if len(names) == 1 else tuple(names)


def model_options(sp, with_layer: bool = True, several_layers: bool = False) -> None:
    sp.add_argument("--model", default="efficientnet_lite0",
                    help="zoo name or timm:NAME (default: efficientnet_lite0, bundled)")
    sp.add_argument("--weights", default=None,
                    help="PATH of a state dict, 'random' (seeded), or omit for pretrained")
    sp.add_argument("--image-size", type=int, default=None, help="input size in pixels (default: the model's)")
    if with_layer and several_layers:
        sp.add_argument("--layer", action="append", default=None,
                        help="layer name (default: last spatial layer); repeat it, or separate names with "
                             "commas, to fill several layers in one pass (the first is the run's main layer)")
    elif with_layer:
        sp.add_argument("--layer", default=None, help="layer name (default: last spatial layer)")


def embed_options(sp) -> None:
    model_options(sp, several_layers=True)
    sp.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    sp.add_argument("--batch-size", type=int, default=64)
    sp.add_argument("--workers", type=int, default=None, help="image decoding processes (default: by device)")
