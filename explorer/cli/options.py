"""Options several sub-commands share."""

from __future__ import annotations


def weights(value: str | None) -> str | None:
    """'pretrained' or nothing: the model's own weights (None); else 'random' or a file path."""
    return None if value in (None, "", "pretrained") else value


def model_options(sp, with_layer: bool = True) -> None:
    sp.add_argument("--model", default="efficientnet_lite0",
                    help="zoo name or timm:NAME (default: efficientnet_lite0, bundled)")
    sp.add_argument("--weights", default=None,
                    help="PATH of a state dict, 'random' (seeded), or omit for pretrained")
    sp.add_argument("--image-size", type=int, default=None, help="input size in pixels (default: the model's)")
    if with_layer:
        sp.add_argument("--layer", default=None, help="layer name (default: last spatial layer)")


def embed_options(sp) -> None:
    model_options(sp)
    sp.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    sp.add_argument("--batch-size", type=int, default=64)
    sp.add_argument("--workers", type=int, default=None, help="image decoding processes (default: by device)")
