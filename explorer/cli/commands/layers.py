"""explorer layers MODEL: every layer with its shape, receptive field and stride."""

from __future__ import annotations

import json
import sys

from ..options import image_size, weights


def add_parser(sub) -> None:
    sp = sub.add_parser("layers", help="list a model's layers with shapes and receptive fields")
    sp.add_argument("model")
    sp.add_argument("--weights", default=None)
    sp.add_argument("--image-size", type=image_size, default=None)
    sp.add_argument("--all", action="store_true",
                    help="also list pass-through nodes (identities in eval mode: *.aa, *.drop_path, dropout)")
    sp.add_argument("--blocks", action="store_true", help="list block names and the layer each one selects")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=run)


def run(args) -> int:
    from ...core.model.graph import model_graph
    from ...core.model.zoo import load_model

    model = load_model(args.model, weights(args.weights), image_size=args.image_size)
    graph = model_graph(model)
    note = None
    if graph.trace_error:
        note = (f"{model.name} could not be traced ({graph.trace_error}); layers come from forward hooks "
                "and receptive fields are unknown.")
    if args.json:
        rows = graph.layers if args.all else [l for l in graph.layers if not l.passthrough or l.name == graph.default]
        # flags only where they are true, so the entries of the first release keep their shape
        print(json.dumps([l.to_json() | ({"recommended": True} if l.name == graph.default else {})
                          | ({"passthrough": True} if l.passthrough else {}) for l in rows], indent=2))
        if note:
            print(note, file=sys.stderr)
        return 0
    print(f"{model.name} ({model.weights_id}), input {graph.input_size}x{graph.input_size}; "
          f"default layer: {graph.default} (recommended, marked *)")
    if note:
        print(note)
    if args.blocks:
        print(f"{'block':<28}selects (its output, as torchvision's create_feature_extractor)")
        for block, output in graph.blocks.items():
            print(f"{block:<28}{output}")
        return 0
    hidden = sum(l.passthrough for l in graph.layers)
    print(f"  {'layer':<40}{'shape':<18}{'receptive field':>16}{'stride':>8}")
    for l in graph.layers:
        if l.passthrough and not args.all:
            continue
        shape = "x".join(str(s) for s in l.shape)
        rf = "-" if l.receptive_field is None else f"{l.receptive_field}px"
        stride = "-" if l.stride is None else str(l.stride)
        mark = "*" if l.name == graph.default else " "
        extra = "  (pass-through: same as its input)" if l.passthrough else ""
        print(f"{mark} {l.name:<40}{shape:<18}{rf:>16}{stride:>8}{extra}")
    if hidden and not args.all:
        print(f"{hidden} pass-through nodes (identities in eval mode) not shown; --all lists them.")
    print("A block name (e.g. the first part of a name above) selects the block's output; --blocks lists them.")
    return 0
