"""Attribution maps: why the network scored a class (gradients, guided backprop, CAM, Grad-CAM(++),
guided Grad-CAM, occlusion, integrated gradients), and checks that a map explains the model."""

from .checks import Faithfulness, SanityResult, faithfulness, rank_correlation, sanity_check
from .explainer import CamHead, Explainer, cascade_units
from .methods import BASELINES, CAM_FAMILY, METHODS, Attribution, Options, explain
from .targets import Prediction, resolve_target, top_k

__all__ = ["Attribution", "BASELINES", "CAM_FAMILY", "CamHead", "Explainer", "Faithfulness", "METHODS",
           "Options", "Prediction", "SanityResult", "cascade_units", "explain", "faithfulness",
           "rank_correlation", "resolve_target", "sanity_check", "top_k"]
