"""Console entry point.

``kgen --version`` is answered before typer, jinja2, jsonschema or cryptography are imported, so it
stays fast; everything else goes to :mod:`generator.cli`. This is not the only deliberately lazy
import: each command imports only the modules it calls (see :mod:`generator.cli`, "Start-up cost").
"""

import sys

from generator import __version__


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(f"kgen {__version__}\n")
        return
    from generator.cli import run  # noqa: PLC0415 - deliberately lazy, see module docstring

    run()
