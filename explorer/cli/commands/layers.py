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
        print(json.dumps([l.to_json() for l in graph.layers], indent=2))
        if note:
            print(note, file=sys.stderr)
        return 0
    print(f"{model.name} ({model.weights_id}), input {graph.input_size}x{graph.input_size}; "
          f"default layer: {graph.default}")
    if note:
        print(note)
    print(f"{'layer':<40}{'shape':<18}{'receptive field':>16}{'stride':>8}")
    for l in graph.layers:
        shape = "x".join(str(s) for s in l.shape)
        rf = "-" if l.receptive_field is None else f"{l.receptive_field}px"
        stride = "-" if l.stride is None else str(l.stride)
        print(f"{l.name:<40}{shape:<18}{rf:>16}{stride:>8}")
    return 0
