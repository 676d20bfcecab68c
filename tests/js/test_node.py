"""Runs the JavaScript unit tests (tests/js/*.test.mjs) with node's own test runner, so CI runs them with
the rest of the suite."""
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent


def test_javascript_unit_tests_pass():
    node = shutil.which("node")
    assert node, "node is needed for the JavaScript unit tests (apt-get install nodejs)"
    files = sorted(str(path) for path in HERE.glob("*.test.mjs"))
    assert files, "no JavaScript tests found"
    result = subprocess.run([node, "--test", *files], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
