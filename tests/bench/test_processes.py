"""bench/processes.py: a provider's step built and run in a spawned process of its own, each call
running the asked number of steps there; a failure there is raised here with its traceback."""

import pytest

from bench.processes import ProviderProcess


def counting_step(path: str):
    """A step that appends one line to ``path`` per call (what the test counts)."""

    def step():
        with open(path, "a") as out:
            out.write("step\n")

    return step


def failing_build():
    raise ValueError("no such model")


def test_calls_run_the_steps_in_the_providers_process(tmp_path):
    path = tmp_path / "steps.txt"
    process = ProviderProcess(counting_step, str(path), threads=1)
    try:
        process.ready()
        process(3)
        process(2)
        assert path.read_text().count("step") == 5
    finally:
        process.close()


def test_a_failure_to_build_is_raised_with_its_traceback():
    process = ProviderProcess(failing_build, threads=1)
    try:
        with pytest.raises(RuntimeError, match="(?s)failed.*ValueError: no such model"):
            process.ready()
    finally:
        process.close()
