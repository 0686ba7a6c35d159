"""Console entry point.

``kgen --version`` is answered before typer, jinja2, jsonschema or cryptography are imported, so it
stays fast; everything else goes to :mod:`generator.cli`. This is not the only deliberately lazy
import: each command imports only the modules it calls (see :mod:`generator.cli`, "Start-up cost").
"""

import gc
import sys

from generator import __version__


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(f"kgen {__version__}\n")
        return
    # Start-up builds tens of thousands of objects that live as long as the process (modules, classes,
    # compiled templates) and frees none, so the cyclic collector's passes during the imports find
    # nothing. It is off while they run; afterwards the survivors move to the permanent generation
    # (gc.freeze), where later passes over the render's own objects do not walk them again.
    gc.disable()
    try:
        from generator.cli import run  # noqa: PLC0415 - deliberately lazy, see module docstring
    finally:
        gc.freeze()
        gc.enable()
    run()
