"""fastgen commands writing into a pipe whose reader goes away."""

import subprocess
import sys


def test_a_reader_that_leaves_early_gets_no_traceback():
    """`fastgen info | head -1`: the pipe closes before fastgen has written everything."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fastgen", "info"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
