"""What the in-process benchmarks share: another git revision's code measured beside this checkout's.

``--compare REV`` in ``engine_events_bench.py`` and ``ingest_cpu_bench.py``: REV's tree is extracted with
``git archive`` into a temporary folder, and the benchmark script (always this checkout's) runs one pass at
a time in its own process, alternating between that tree and this checkout, so that a machine that slows
down or speeds up meanwhile affects both alike. Each pass prints its result as JSON; ``merge`` folds the
passes of one tree together.

A script calls ``code_tree()`` before importing anything of the gateway: with ``--tree DIR`` (how
``interleaved`` runs it) the gateway's packages are imported from DIR instead of this checkout.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
THIS_CHECKOUT = "this checkout"


def code_tree() -> Path:
    """The tree whose gateway code is measured (``--tree DIR``, else this checkout), first on sys.path."""
    tree = Path(sys.argv[sys.argv.index("--tree") + 1]).resolve() if "--tree" in sys.argv else ROOT
    sys.path.insert(0, str(tree))
    return tree


def interleaved(
    script: str,
    rev: str,
    args: Sequence[str],
    repeat: int,
    merge: Callable[[dict[str, Any], dict[str, Any]], None],
) -> dict[str, dict[str, Any]]:
    """Run ``script --json --repeat 1 *args`` ``repeat`` times on REV's tree and on this checkout, in turn.
    Returns the merged results by label: REV first, then ``THIS_CHECKOUT``."""
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        trees = {rev: tmp, THIS_CHECKOUT: str(ROOT)}
        for i in range(repeat):
            for label, tree in trees.items():
                print(f"pass {i + 1}/{repeat}: {label}", file=sys.stderr)
                command = [sys.executable, script, "--tree", tree, "--json", "--repeat", "1", *args]
                out = subprocess.run(command, check=True, capture_output=True, text=True)
                run = json.loads(out.stdout)
                if label in results:
                    merge(results[label], run)
                else:
                    results[label] = run
    return results


class FakeClock:
    """The gateway's injected clock, stepped by the benchmark."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now
