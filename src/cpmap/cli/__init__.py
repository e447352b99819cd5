"""The ``cpmap`` command line. ``main`` is the console-script entry point.

Every :class:`cpmap.errors.Error` is caught here, once, and printed as one line on stderr with
its exit code; anything else escaping is a bug, reported without a traceback unless
``CPMAP_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    from cpmap.errors import Error

    args = sys.argv[1:] if argv is None else argv
    try:
        from cpmap.cli.fast import try_fast

        if try_fast(args):
            return
        from cpmap.cli.app import build

        build(args[0] if args else None)(args=args, prog_name="cpmap", standalone_mode=True)
    except Error as e:
        sys.stderr.write(f"cpmap: error: {e.diagnostics()}\n")
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("cpmap: interrupted\n")
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last line of defence: no traceback for users
        if os.environ.get("CPMAP_DEBUG"):
            raise
        sys.stderr.write(f"cpmap: internal error: {e.__class__.__name__}: {e} "
                         "(set CPMAP_DEBUG=1 for a traceback and please report it)\n")
        sys.exit(3)
