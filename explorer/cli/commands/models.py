"""explorer models: the model zoo with each model's weights status."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    sp = sub.add_parser("models", help="list the model zoo with each model's weights status")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=run)


def run(args) -> int:
    from ...core.model.zoo import list_models

    models = list_models()
    if args.json:
        print(json.dumps([m.__dict__ for m in models], indent=2))
        return 0
    print(f"{'model':<22}{'source':<13}{'weights':<14}where")
    for m in models:
        print(f"{m.name:<22}{m.source:<13}{m.weights:<14}{m.detail}")
    print(f"{'timm:NAME':<22}{'timm':<13}{'hub':<14}any timm architecture; --weights PATH or random offline")
    return 0
