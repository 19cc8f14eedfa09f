"""GPU checks: run tests/gpu/check.sh by hand on a GPU machine; the suite stays CPU-only."""
