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


def _damaged(where: str, what: str) -> RunFolderError:
    return RunFolderError(f"{where}: the run folder is damaged (manifest.json: {what}); embed again with --overwrite.")


def _check(manifest: dict, where: str) -> dict:
    """Refuse a manifest that lacks what readers rely on, naming the key (not a KeyError later)."""
    def need(key, kind, what):
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise _damaged(where, f"'{key}' is missing or is not {what}")

    need("key", str, "text")
    need("dataset", dict, "an object")
    if not isinstance(manifest["dataset"].get("root"), str):
        raise _damaged(where, "'dataset' has no 'root' folder")
    need("input_size", int, "a whole number")
    need("layers", list, "a list of layers")
    for layer in manifest["layers"]:
        if not (isinstance(layer, dict) and isinstance(layer.get("name"), str) and isinstance(layer.get("shape"), list)
                and all(isinstance(n, int) for n in layer["shape"])):
            raise _damaged(where, "'layers' must list objects with a name and a shape")
    if not manifest["layers"]:
        raise _damaged(where, "'layers' is empty")
    need("arrays", list, "a list of arrays")
    for entry in manifest["arrays"]:
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("file"), str)
                and isinstance(entry.get("dtype"), str) and isinstance(entry.get("row_shape"), list)
                and "/" not in entry["file"] and "\\" not in entry["file"]):
            raise _damaged(where, "'arrays' must list objects with a name, file, dtype and row_shape")
    return manifest


def upgrade(manifest: dict, where: str) -> dict:
    """The manifest in the current schema, checked; RunFolderError for a version this code cannot read
    or a manifest that lacks what readers need."""
    version = manifest.get("schema_version")
    if version is None:
        raise _damaged(where, "'schema_version' is missing")
    if version == SCHEMA_VERSION:
        return _check(manifest, where)
    if version == 1:
        for key in ("layer", "layer_shape"):
            if key not in manifest:
                raise _damaged(where, f"'{key}' is missing")
        if not isinstance(manifest["layer_shape"], list):
            raise _damaged(where, "'layer_shape' is not a list")
        out = dict(manifest)
        layer = layer_entry(manifest)
        width = layer["shape"][0] if len(layer["shape"]) == 3 else _prod(layer["shape"])
        out["layers"] = [layer]
        out["arrays"] = [{"name": name, "layer": layer["name"], "file": f"{name}.npy", "dtype": dtype,
                          "row_shape": [width]} for name, dtype in V1_ARRAYS]
        out["schema_version"] = SCHEMA_VERSION
        out["migrated_from"] = 1
        return _check(out, where)
    raise RunFolderError(f"{where}: this run was written in run format {version!r}; this version of the app "
                         f"reads formats 1 to {SCHEMA_VERSION}. Update the app, or embed again with --overwrite.")


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n
