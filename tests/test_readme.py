"""The README's Python example runs as written."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs_as_written(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1
    (tmp_path / "example.py").write_text(blocks[0])
    result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    error = float(re.search(r"test relative L2: ([0-9.e-]+)", result.stdout).group(1))
    assert error < 0.02 and "At equal accuracy" in result.stdout  # measured 0.0057
