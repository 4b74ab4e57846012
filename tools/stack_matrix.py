"""Print the CI stack matrix as JSON: every Pulumi.<stack>.yaml of the project, checked by the fork rules.

    python -m tools.stack_matrix [--root DIR]

A fork is Pulumi.<name>.yaml plus policy/config/<name>.json; CI previews it with no workflow edit.
Exits non-zero, naming each problem, when a stack breaks the rules settings enforce or lacks its pack config.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from infra.config_schema import PROJECT_ROOT, stack_names
from infra.stack_names import stack_name_problems


def matrix_problems(root: Path) -> list[str]:
    stacks = stack_names(root)
    problems = [problem for stack in stacks for problem in stack_name_problems(stack)]
    pack_configs = root / "policy" / "config"
    for stack in stacks:
        if not (pack_configs / f"{stack}.json").is_file():
            problems.append(
                f"{stack}: no policy/config/{stack}.json (the policy pack's settings for the stack)"
            )
    for orphan in sorted({p.stem for p in pack_configs.glob("*.json")} - set(stacks)):
        problems.append(f"policy/config/{orphan}.json: no Pulumi.{orphan}.yaml")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT, help="project folder (default: this one)")
    arguments = parser.parse_args(argv)
    problems = matrix_problems(arguments.root)
    if problems:
        print("stack matrix:\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)
        return 1
    print(json.dumps(stack_names(arguments.root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
