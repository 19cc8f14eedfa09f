"""explorer cache [--clear]: the runs the app cached, or clearing them."""

from __future__ import annotations


def add_parser(sub) -> None:
    sp = sub.add_parser("cache", help="list the runs the app cached (size, dataset, model, layer), or clear them")
    sp.add_argument("--clear", action="store_true", help="delete every cached run")
    sp.set_defaults(func=run)


def run(args) -> int:
    from ...core.run.cache import cache_root, cached_runs, clear_cache

    if args.clear:
        n, freed, skipped = clear_cache()
        print(f"removed {n} cached runs ({freed / 1e6:,.1f} MB) from {cache_root()}")
        if skipped:
            print(f"kept {len(skipped)} run{'s' if len(skipped) > 1 else ''} in use by a running embedding: "
                  + ", ".join(p.name for p in skipped))
        return 0
    runs = cached_runs()
    total = sum(r.size_bytes for r in runs)
    print(f"{cache_root()}: {len(runs)} runs, {total / 1e6:,.1f} MB (explorer cache --clear removes them)")
    for r in runs:
        m = r.manifest or {}
        state = "damaged" if r.manifest is None else ("complete" if m.get("complete") else "partial")
        counts = m.get("counts", {})
        print(f"  {r.path.name}  {r.size_bytes / 1e6:8.1f} MB  {state:<8} {m.get('updated', '?'):<24} "
              f"{m.get('model', '?')}/{m.get('layer', '?')}  {counts.get('embedded', '?')} images  "
              f"{m.get('dataset', {}).get('root', '?')}")
    return 0
