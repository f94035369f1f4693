"""What many tests share: the repository's root, the project's scripts in tools/ as modules, and the check that
a command refused bad input the project's way (nbs/94_cli.ipynb): exit code 2, one line `error: …` on stderr that
names what is wrong, no traceback."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository: pyproject.toml, Makefile, dvc.yaml, nbs/, tests/
EXIT_BAD_INPUT = 2


def assert_refused(code: int, stderr: str, message: str) -> None:
    "Fail unless a command exited 2 with one line `error: …` on stderr containing `message`, and no traceback."
    assert code == EXIT_BAD_INPUT, (code, stderr)
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert message in stderr and "Traceback" not in stderr, stderr


def tool(name: str):
    "The script tools/`name`.py of the project, loaded as a module (tools/ is no package)."
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
