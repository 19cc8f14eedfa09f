#!/bin/sh
# The GPU checks (see check.py): run from anywhere; extra arguments go to check.py (e.g. --device cpu).
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python="$root/.venv/bin/python"
[ -x "$python" ] || python=python3
exec "$python" "$here/check.py" "$@"
