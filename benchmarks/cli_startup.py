"""How fast the `halsted` command answers when it has nothing heavy to do:
`halsted --help`, and `halsted map` refusing an empty file. Each is a fresh process, as a user runs it;
the median of --repeat runs is reported, with whether torch was imported (python -X importtime).

    PYTHONPATH=. python benchmarks/cli_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit  # noqa: E402


def _run(argv):
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "halsted_hf.cli", *argv], capture_output=True, text=True)
    return time.perf_counter() - t0, res.returncode


def _imports_torch(argv) -> bool:
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "halsted_hf.cli", *argv],
                         capture_output=True, text=True)
    return any(line.rsplit("|", 1)[-1].strip() == "torch" for line in res.stderr.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty.mp4")
        open(empty, "wb").close()
        cases = {"help": ["--help"], "empty_file": ["map", empty]}
        record = {"benchmark": "cli_startup", "repeat": args.repeat}
        for name, argv in cases.items():
            _run(argv)  # warm the file cache: the figure is the command, not the first disk read
            runs = [_run(argv) for _ in range(args.repeat)]
            record[f"{name}_median_s"] = round(statistics.median(t for t, _ in runs), 3)
            record[f"{name}_max_s"] = round(max(t for t, _ in runs), 3)
            record[f"{name}_exit"] = runs[0][1]
            record[f"{name}_imports_torch"] = _imports_torch(argv)
    emit(record)


if __name__ == "__main__":
    main()
