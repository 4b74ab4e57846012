"""python -m rehearsal --stack staging --promote-to prod: train on one stack, promote to another, serve, capture and
measure drift there, on a local AWS emulator (without --promote-to the stack promotes to itself)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from rehearsal.run import RehearsalError, run_rehearsal


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so the emulator and the local server are stopped on the way out.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal", description=__doc__)
    parser.add_argument(
        "--stack", default="dev", help="stack whose Pulumi.<stack>.yaml to rehearse (default dev)"
    )
    parser.add_argument(
        "--promote-to",
        metavar="STACK",
        help="the stack whose Pulumi.<stack>.yaml is pinned to the trained package and which serves it "
        "(default: --stack itself)",
    )
    parser.add_argument("--rows", type=int, default=4000, help="sample customers to train on (default 4000)")
    parser.add_argument(
        "--requests",
        type=int,
        default=2500,
        help="requests of the undrifted and drifted windows together; each of the four windows (blind cases "
        "included) gets half (default 2500)",
    )
    parser.add_argument(
        "--reports-dir", type=Path, default=Path("reports"), help="where the HTML report goes"
    )
    arguments = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        run_rehearsal(
            arguments.stack,
            arguments.rows,
            arguments.requests,
            arguments.reports_dir,
            promote_to=arguments.promote_to,
        )
    except RehearsalError as error:
        print(f"rehearsal failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rehearsal interrupted; emulator stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
