"""Shared output of the benchmark scripts: a aligned key/value listing and an optional JSON file."""
from __future__ import annotations

import json


def report(out: dict, json_path=None) -> None:
    for key, val in out.items():
        print(f"{key:36s} {val:.4g}" if isinstance(val, float) else f"{key:36s} {val}")
    if json_path:
        json_path.write_text(json.dumps(out, indent=1))
