"""README.md's tour is real output: every ```-block that starts with `$ mlacalc ...` must match a fresh run.

Regenerate the blocks after a deliberate change with `python tests/test_readme.py --update`.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"```\n\$ (mlacalc[^\n]*)\n(.*?)```", re.S)


def run(command: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    out = subprocess.run(command, shell=True, capture_output=True, text=True, env=env, check=True).stdout
    return "\n".join(line.rstrip() for line in out.rstrip().splitlines()) + "\n"


def blocks() -> list[tuple[str, str]]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


@pytest.mark.skipif(shutil.which("mlacalc") is None, reason="mlacalc is not installed on PATH")
@pytest.mark.parametrize("command,shown", blocks(), ids=[c for c, _ in blocks()])
def test_readme_block_is_real_output(command, shown):
    assert run(command) == shown


if __name__ == "__main__" and "--update" in sys.argv:
    text = README.read_text(encoding="utf-8")
    text = BLOCK.sub(lambda m: f"```\n$ {m.group(1)}\n{run(m.group(1))}```", text)
    README.write_text(text, encoding="utf-8")
