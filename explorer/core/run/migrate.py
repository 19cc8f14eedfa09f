"""Manifests of older run formats, brought up to the current one (in memory; saved on the next write).

Schema 1 (the first release) described one layer in top-level keys and had three fixed arrays.
Schema 2 lists the embedded layers and every per-row array with its file, so runs can hold
several layers and new arrays. The array files themselves did not change, so a schema-1 run
opens without re-embedding and keeps its cache key.
"""

from __future__ import annotations

from ..errors import RunFolderError

SCHEMA_VERSION = 2
V1_ARRAYS = (("features", "float16"), ("channel_max", "float16"), ("channel_argmax", "int32"))


def layer_entry(manifest: dict) -> dict:
    """The first-release top-level description of the (only) layer."""
    return {k: manifest.get(k) for k in ("receptive_field", "stride", "field")} | {
        "name": manifest["layer"], "shape": list(manifest["layer_shape"])}


def upgrade(manifest: dict, where: str) -> dict:
    """The manifest in the current schema; RunFolderError for a version this code cannot read."""
    version = manifest.get("schema_version")
    if version == SCHEMA_VERSION:
        return manifest
    if version == 1:
        out = dict(manifest)
        layer = layer_entry(manifest)
        width = layer["shape"][0] if len(layer["shape"]) == 3 else _prod(layer["shape"])
        out["layers"] = [layer]
        out["arrays"] = [{"name": name, "layer": layer["name"], "file": f"{name}.npy", "dtype": dtype,
                          "row_shape": [width]} for name, dtype in V1_ARRAYS]
        out["schema_version"] = SCHEMA_VERSION
        out["migrated_from"] = 1
        return out
    raise RunFolderError(f"{where}: this run was written in run format {version!r}; this version of the app "
                         f"reads formats 1 to {SCHEMA_VERSION}. Update the app, or embed again with --overwrite.")


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n
