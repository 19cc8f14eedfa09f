"""Attribution maps: why the network scored a class (gradients, guided backprop, CAM, Grad-CAM(++),
guided Grad-CAM, occlusion, integrated gradients), and checks that a map explains the model.

Names load lazily: `from ...attribution import METHODS` does not import torch.
"""

from importlib import import_module

from .names import BASELINES, CAM_FAMILY, LAYER_METHODS, METHODS

_LAZY = {"Faithfulness": "checks", "SanityResult": "checks", "faithfulness": "checks",
         "rank_correlation": "checks", "sanity_check": "checks", "CamHead": "explainer", "Explainer": "explainer",
         "cascade_units": "explainer", "Attribution": "methods", "Options": "methods", "explain": "methods",
         "Prediction": "targets", "resolve_target": "targets", "top_k": "targets"}

__all__ = ["BASELINES", "CAM_FAMILY", "LAYER_METHODS", "METHODS", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
