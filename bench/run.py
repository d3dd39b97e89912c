"""Run every benchmark in turn and print their markdown tables (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    ["bench_engine.py", "--duration", "1800"],
    ["bench_signing.py", "--orders", "3000", "--warmup", "300"],
    ["bench_book.py"],
    ["bench_backtest.py", "--repeat", "3"],
    ["bench_stream.py", "--clients", "50", "--seconds", "30"],
]


def main() -> int:
    failed = 0
    for name, *args in BENCHES:
        print(f"\n# {name} {' '.join(args)}\n", flush=True)
        result = subprocess.run([sys.executable, str(HERE / name), *args], check=False)
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
