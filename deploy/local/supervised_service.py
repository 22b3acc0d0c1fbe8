"""Run one Ilmo service as a supervisord program (``deploy/local/run.sh``).

The service runs in this very process, from its console-script entry point,
so the pid supervisord reports and signals is the service's own.

The one thing added is for exit code 2, which the services use for a bad
setting: restarting cannot fix that, so supervisord lists 2 among the
expected exit codes (``exitcodes=0,2`` with ``autorestart=unexpected``, like
systemd's ``RestartPreventExitStatus=2``). But supervisord looks at the exit
code only of a process that has stayed up for ``startsecs``; one that exits
sooner is a failed start and is retried, whatever its code, and settings are
checked within the first second or two. So an exit with 2 is held back until
``--startsecs`` (plus a margin) after this process started; supervisord then
sees an expected exit and leaves the service stopped. Any other exit, and
every signal, passes through at once.

    python deploy/local/supervised_service.py --startsecs 5 ilmo-registration
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

CONFIGURATION_ERROR = 2
# Covers the interpreter's start before main() and supervisord's own timing.
MARGIN_SECONDS = 1.0


def service_main(command: str) -> Callable[[], object]:
    """The function behind the console command ``command`` (e.g. ``ilmo-registration``)."""
    found = entry_points(group="console_scripts", name=command)
    if not found:
        print(f"supervised_service: no console command {command!r} installed", file=sys.stderr)
        raise SystemExit(CONFIGURATION_ERROR)
    main: Callable[[], object] = next(iter(found)).load()
    return main


def run(command: str, startsecs: float) -> None:
    started = time.monotonic()
    main = service_main(command)
    sys.argv = [command]
    try:
        main()
    except SystemExit as stopped:
        if stopped.code == CONFIGURATION_ERROR:
            remaining = startsecs + MARGIN_SECONDS - (time.monotonic() - started)
            if remaining > 0:
                print(
                    f"supervised_service: {command} exits with {CONFIGURATION_ERROR} (a bad"
                    f" setting) in {remaining:.1f} s, after supervisord's startsecs, so that it"
                    " is not restarted",
                    file=sys.stderr,
                    flush=True,
                )
                time.sleep(remaining)
        raise


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--startsecs", type=float, required=True, help="the program's startsecs")
    parser.add_argument("command", help="console command of the service, e.g. ilmo-registration")
    arguments = parser.parse_args(argv)
    run(arguments.command, arguments.startsecs)


if __name__ == "__main__":
    main()
