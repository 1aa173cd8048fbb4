"""Print the runs of bench/compare_trees.sh as one Markdown table, in the order they ran."""

import json
import sys
from pathlib import Path


def summary_rows(folder: Path) -> list[tuple]:
    """Return (started, bench, tree, round, serial p50, serial p99, /healthz p50, saturated/s, open p99, errors)."""
    rows = []
    for path in folder.glob("*-*-*.json"):
        bench, tree, round_ = path.stem.split("-")
        run = json.loads(path.read_text())
        figures = run["variants"][0] if bench == "serve" else run
        saturated = figures["saturated_tips" if bench == "serve" else "saturated"]
        errors = sum(figures["serial"]["errors"].values()) + sum(saturated["errors"].values())
        serial, healthz = figures["serial"], figures["serial_healthz"]
        latency = (serial["p50_ms"], serial["p99_ms"], healthz["p50_ms"])
        load = (saturated["rps"], figures["open_loop"]["p99_ms"], errors)
        rows.append((run["started"][11:19], bench, f"{tree} ({round_})", *latency, *load))
    return sorted(rows)


if __name__ == "__main__":
    columns = ["started", "bench", "tree (round)", "serial p50 ms", "serial p99 ms", "/healthz p50 ms"]
    columns += ["saturated/s", "open-loop p99 ms", "errors"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in summary_rows(Path(sys.argv[1] if len(sys.argv) > 1 else "var/bench/compare")):
        print("| " + " | ".join(str(cell) for cell in row) + " |")
