"""What the lab scripts that read a run's JSON share: the file read, or one line on stderr and exit status 2 for a
missing, unreadable or non-JSON file (not a traceback). No torch: the summary scripts run on any machine."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def read_json(path: str, prog: str, *, key: str | None = None):
    """The JSON object at `path` (its `key` entry when given), or None after one line on stderr naming the script,
    the file and what is wrong with it."""
    try:
        with open(path) as f:
            data = json.load(f)
        return data if key is None else data[key]
    except FileNotFoundError:
        why = "no such file"
    except OSError as e:
        why = f"cannot be read ({e.strerror or type(e).__name__})"
    except ValueError:
        why = "not JSON"
    except (KeyError, TypeError):
        why = f"not a lab run's JSON (no {key!r})"
    print(f"{Path(prog).stem}: {path}: {why}", file=sys.stderr)
    return None
