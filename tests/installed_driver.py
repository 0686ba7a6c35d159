"""Runs several kgen commands in one process of the venv tests/test_installed.py installs kgen into.

Started as ``<venv>/bin/python -I installed_driver.py COMMANDS_JSON RESULT_FILE`` in the project folder
(-I: no PYTHONPATH, no script folder on sys.path, so ``generator`` can only come from the installed
wheel). Each command is a list of arguments for the installed ``generator.cli.app``, driven by typer's
CliRunner; the result file gets the exit code, stdout and stderr of each (an unexpected exception's
traceback is appended to its stderr, as the console script would print it), plus where ``generator``
and its schemas were imported from. One Python start and one import of kgen instead of one per
command: the console script itself is still run for the checks about the process (tests/test_installed.py).
"""

import json
import sys
import traceback
from pathlib import Path

from typer.testing import CliRunner

import generator
from generator.cli import app
from generator.resources import schemas_dir


def main() -> None:
    commands: list[list[str]] = json.loads(sys.argv[1])
    runner = CliRunner()
    results = []
    for args in commands:
        done = runner.invoke(app, args, prog_name="kgen")
        stderr = done.stderr
        if done.exception is not None and not isinstance(done.exception, SystemExit):
            stderr += "".join(traceback.format_exception(done.exception))
        results.append({"code": done.exit_code, "stdout": done.stdout, "stderr": stderr})
    answer = {"generator": generator.__file__, "schemas": str(schemas_dir()), "results": results}
    Path(sys.argv[2]).write_text(json.dumps(answer), encoding="utf-8")


if __name__ == "__main__":
    main()
