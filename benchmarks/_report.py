"""Helpers shared by the benchmark scripts: machine description and marked sections in docs."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import date

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"{os.cpu_count()} cores ({cpu}), torch {torch.__version__} with {torch.get_num_threads()} threads"
            f"{gpu}, {date.today().isoformat()}")


def git_commit() -> str:
    """The short commit, with "+uncommitted changes" when the source differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "src", "benchmarks"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return head + (" + uncommitted changes" if dirty else "")
    except OSError:
        return "unknown"


def _section(name: str) -> str:
    """The pattern of a docs section, its text as group 1."""
    return re.escape(f"<!-- {name}:start -->") + "(.*?)" + re.escape(f"<!-- {name}:end -->")


def read_section(relpath: str, name: str) -> str:
    """The text between <!-- name:start --> and <!-- name:end --> in a docs file ("" if absent)."""
    path = os.path.join(ROOT, relpath)
    found = re.search(_section(name), open(path).read() if os.path.exists(path) else "", re.S)
    return found.group(1).strip() if found else ""


def replace_section(relpath: str, name: str, text: str) -> None:
    """Replace the text between <!-- name:start --> and <!-- name:end --> in a docs file
    (appending the section if it is not there yet)."""
    path = os.path.join(ROOT, relpath)
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text.strip()}\n{end}"
    content = open(path).read() if os.path.exists(path) else ""
    if start in content:
        content = re.sub(_section(name), lambda _: block, content, flags=re.S)
    else:
        content = content.rstrip() + "\n\n" + block + "\n"
    with open(path, "w") as fh:
        fh.write(content)
