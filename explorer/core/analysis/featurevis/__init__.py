"""Feature visualisation: images optimised to excite a class, a channel or a unit (Olah et al. 2017)."""

from .optimise import KINDS, Objective, Settings, Visualisation, visualise

__all__ = ["KINDS", "Objective", "Settings", "Visualisation", "visualise"]
