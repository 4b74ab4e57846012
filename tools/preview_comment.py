"""Turn a `pulumi preview` log into the pull-request comment for one stack, whether it passed or failed.

Usage: python3 tools/preview_comment.py --stack dev --outcome failure --log preview.txt > comment.md
The reviewer sees the outcome first, then the reason (error and policy-violation lines), then the log.
Standard library only: it runs after a failed step, when the project's virtualenv may not exist.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# GitHub rejects comment bodies over 65,536 characters; keep room for the header and the reason.
MAX_LOG_CHARS = 55_000
_REASON = re.compile(r"(error|violation|mandatory|invalid stack config|^\s+- |failed)", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def comment(stack: str, outcome: str, log: str) -> str:
    log = _ANSI.sub("", log)
    if outcome == "success":
        header = f"### Pulumi preview of `{stack}`: succeeded"
        reason: list[str] = []
    elif outcome in ("failure", "cancelled"):
        header = f"### Pulumi preview of `{stack}`: FAILED ({outcome})"
        reason = [line.rstrip() for line in log.splitlines() if _REASON.search(line)][:40]
        if not reason:
            reason = log.strip().splitlines()[-15:] or ["(the preview printed nothing)"]
    else:  # skipped: a step before the preview failed (credentials, setup)
        header = f"### Pulumi preview of `{stack}`: not run"
        reason = ["A step before the preview failed (AWS credentials or setup): see the job log."]
    if len(log) > MAX_LOG_CHARS:
        log = "[... start of the log cut ...]\n" + log[-MAX_LOG_CHARS:]
    parts = [header, ""]
    if reason:
        parts += ["**Why:**", "```", *reason, "```", ""]
    if log.strip():
        parts += [
            "<details><summary>Full preview output</summary>",
            "",
            "```",
            log.rstrip(),
            "```",
            "</details>",
        ]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--outcome", required=True, help="the preview step's outcome: success, failure, ...")
    parser.add_argument("--log", type=Path, required=True, help="the preview's output (may be missing)")
    arguments = parser.parse_args(argv)
    log = arguments.log.read_text(errors="replace") if arguments.log.is_file() else ""
    sys.stdout.write(comment(arguments.stack, arguments.outcome, log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
