"""The `tunelens` command: the app by default, `--headless` for batch runs, and small subcommands.

main() dispatches and turns errors into one line: a `TunelensError` is the user's to fix and is
printed as is; anything else is a bug, logged with its traceback. Commands are imported only when
they run, so `tunelens --help` and `tunelens query` start fast: llama.cpp, Textual and `datasets`
load only when a command needs them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.errors import TunelensError
from tunelens.commands import COMMANDS, handler


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in COMMANDS:
            return handler(argv[0])(argv[1:])
        from tunelens.commands.run import cmd_run

        return cmd_run(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except TunelensError as exc:
        print(f"tunelens: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # Anything that is not a TunelensError is a bug: one short line, the traceback in the log.
        if os.environ.get("TUNELENS_TRACEBACK"):
            raise
        log = _log_crash(exc)
        print(
            f"tunelens: internal error ({type(exc).__name__}: {_first_line(exc)}); "
            f"the traceback is in {log}; set TUNELENS_TRACEBACK=1 to see it here",
            file=sys.stderr,
        )
        return 1


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no message"


def _log_crash(exc: BaseException) -> str:
    """Append the traceback to tunelens' log file and say where it is."""
    import traceback
    from datetime import datetime

    from platformdirs import user_log_dir

    try:
        folder = Path(os.environ.get("TUNELENS_LOG_DIR") or user_log_dir("tunelens"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "crash.log"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {datetime.now().isoformat()} tunelens {' '.join(sys.argv[1:])}\n")
            fh.write("".join(traceback.format_exception(exc)))
        return str(path)
    except OSError:
        traceback.print_exception(exc)
        return "the output above"


if __name__ == "__main__":
    raise SystemExit(main())
