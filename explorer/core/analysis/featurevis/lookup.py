"""Reading a visualisation from the cache without ever optimising: a viewer asks this for every
channel it shows, so it must cost a file read (or nothing, when there is none)."""

from __future__ import annotations

from dataclasses import replace

from ...model.zoo import LoadedModel
from .optimise import Objective, Settings, Visualisation, _read_cache, cache_key


def cached(loaded: LoadedModel, objective: Objective, settings: Settings = Settings()) -> Visualisation | None:
    """What `visualise(loaded, objective, settings)` would return from its cache, or None."""
    settings = replace(settings, size=settings.size or loaded.preprocess.crop)
    return _read_cache(cache_key(loaded, objective, settings), objective, settings)
