"""Mutation testing, one module at a time: `make mutate MODULE=infra/settings.py` (or every module in order).

Runs mutmut (settings shared by every run: `[tool.mutmut]` in pyproject.toml) in its own folder,
.build/mutate/<module>/, against only the fast tests the mutation tables map to the module, then prints
the module's score: killed / (mutants - equivalents).

The tables are tests/mutation/<area>.toml, one per area of the code, read in file-name order. Each
`[module."<path>"]` names `tests` (the fast in-process tests that exercise it: no program runs, servers or
toolkits) and may `deselect` some of them; each `[[module."<path>".equivalent]]` is a mutant no test can kill
because it does not change behaviour, named by `function` and `mutated` (the mutated line, stripped; not
mutmut's mutant number, which shifts whenever the function changes) with its `reason`.

training/ and serving/ are flat script folders (pyproject's pytest pythonpath), so their tests import
`verify`, not `serving.verify`; mutmut names a mutant after its file's path and only switches it on when the
names agree. Such a module is therefore mutated as a top-level file of the run folder (`verify.py`), which
comes first on the tests' path and shadows the untouched copy.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLES = ROOT / "tests" / "mutation"
WORK = ROOT / ".build" / "mutate"
FLAT_FOLDERS = ("training", "serving")
# What a run folder links to: the project, minus what mutmut writes or git ignores.
SKIPPED_ENTRIES = {"mutants", "reports"}
KILLED = {"killed", "timeout", "caught by type check"}


@dataclass(frozen=True)
class Equivalent:
    function: str
    mutated: str
    reason: str


@dataclass(frozen=True)
class ModulePlan:
    path: str
    tests: tuple[str, ...]
    deselect: tuple[str, ...]
    equivalents: tuple[Equivalent, ...]

    @property
    def slug(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")

    @property
    def mutated_file(self) -> str:
        """The file mutmut mutates, relative to the run folder."""
        folder, _, name = self.path.rpartition("/")
        return name if folder in FLAT_FOLDERS else self.path


@dataclass(frozen=True)
class Score:
    module: str
    mutants: int
    killed: int
    equivalent: int
    survivors: tuple[str, ...]

    @property
    def percent(self) -> float:
        counted = self.mutants - self.equivalent
        return 100.0 if counted == 0 else 100.0 * self.killed / counted


def _equivalent(table: str, module: str, entry: dict[str, str]) -> Equivalent:
    missing = [key for key in ("function", "mutated", "reason") if not entry.get(key, "").strip()]
    if missing:
        raise SystemExit(f"{table}: an equivalent of {module} lacks {', '.join(missing)}")
    return Equivalent(entry["function"], entry["mutated"].strip(), entry["reason"])


def load_plans(tables: Path = TABLES) -> dict[str, ModulePlan]:
    """Every module of the mutation tables, in table-file order, then in the order each table lists them."""
    plans: dict[str, ModulePlan] = {}
    for table in sorted(tables.glob("*.toml")):
        for path, spec in tomllib.loads(table.read_text(encoding="utf-8")).get("module", {}).items():
            if path in plans:
                raise SystemExit(f"{table.name}: module {path} is already in another table")
            tests = tuple(spec.get("tests", ()))
            if not tests:
                raise SystemExit(f"{table.name}: module {path} names no tests")
            equivalents = tuple(_equivalent(table.name, path, entry) for entry in spec.get("equivalent", ()))
            deselect = tuple(spec.get("deselect", ()))
            plans[path] = ModulePlan(path=path, tests=tests, deselect=deselect, equivalents=equivalents)
    if not plans:
        raise SystemExit(f"no mutation tables in {tables}")
    return plans


def prepare_run_folder(plan: ModulePlan) -> Path:
    """A folder of links to the project (plus the flat module at its top), where mutmut keeps mutants/."""
    folder = WORK / plan.slug
    folder.mkdir(parents=True, exist_ok=True)
    for entry in ROOT.iterdir():
        if entry.name.startswith(".") or entry.name in SKIPPED_ENTRIES:
            continue
        link = folder / entry.name
        if not link.is_symlink():
            link.symlink_to(entry)
    flat = folder / plan.mutated_file
    if plan.mutated_file != plan.path and not flat.is_symlink():
        flat.symlink_to(ROOT / plan.path)
    return folder


def _configure_mutmut(plan: ModulePlan, folder: Path) -> None:
    """pyproject's [tool.mutmut], narrowed to this module and its tests (mutmut reads its config once)."""
    from mutmut import configuration

    config = configuration._load_config()
    config.source_paths = [Path(plan.mutated_file)]
    config.resolved_mutated_source_paths = [folder.resolve() / "mutants" / plan.mutated_file]
    config.only_mutate = []
    config.pytest_add_cli_args_test_selection = [*plan.tests, *(f"--deselect={t}" for t in plan.deselect)]
    config.also_copy = [
        Path(entry.name)
        for entry in sorted(folder.iterdir())
        if entry.name not in {"mutants", plan.mutated_file} and not entry.name.startswith(".")
    ]
    configuration._config = config


def _mutated_lines(diff: str) -> str:
    return "\n".join(
        line[1:].strip() for line in diff.splitlines() if line.startswith("+") and line[1:2] != "+"
    )


def _function_of(mutant: str) -> str:
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    function, class_name = orig_function_and_class_names_from_key(mutant)
    return f"{class_name}.{function}" if class_name else function


def _is_equivalent(plan: ModulePlan, mutant: str, diff: str) -> bool:
    function, mutated = _function_of(mutant), _mutated_lines(diff)
    return any(e.function == function and e.mutated == mutated for e in plan.equivalents)


def score(plan: ModulePlan) -> Score:
    """Read mutmut's results for the module (run from its run folder)."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    data = SourceFileMutationData(path=Path(plan.mutated_file))
    data.load()
    killed = equivalent = 0
    survivors: list[str] = []
    for mutant, exit_code in sorted(data.exit_code_by_key.items()):
        status = status_by_exit_code[exit_code]
        if status in KILLED:
            killed += 1
            continue
        diff = get_diff_for_mutant(mutant, path=Path(plan.mutated_file))
        if _is_equivalent(plan, mutant, diff):
            equivalent += 1
        else:
            survivors.append(f"# {mutant}: {status} (function {_function_of(mutant)})\n{diff}")
    return Score(plan.path, len(data.exit_code_by_key), killed, equivalent, tuple(survivors))


def survivors_of_last_run(plan: ModulePlan) -> tuple[str, ...]:
    """The mutants the module's last run did not kill (run from its run folder); none before a first run."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code

    data = SourceFileMutationData(path=Path(plan.mutated_file))
    data.load()
    return tuple(
        sorted(m for m, code in data.exit_code_by_key.items() if status_by_exit_code[code] not in KILLED)
    )


def _cache_bytecode() -> None:
    """Let every mutant's fork reuse compiled modules and pytest's rewritten tests.

    mutmut compiles all of a module's mutants into one file and picks one at run time, so a cached .pyc stays
    right for every mutant; without it (PYTHONDONTWRITEBYTECODE=1 in this workplace's shells) each fork
    compiled the project and its test files again, most of a mapped test set's time.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


def run_module(plan: ModulePlan, max_children: int, *, recheck: bool = False) -> Score:
    """Mutate one module in a child process (mutmut keeps global state and exits on errors).

    With `recheck`, only the last run's survivors run again (mutmut keeps every other verdict): minutes
    instead of the whole module after new tests in the files already mapped. Not after changing the module's
    `tests`/`deselect` in its table: mutmut then resets every verdict and the rest stay unchecked.
    """
    folder = prepare_run_folder(plan)
    pid = os.fork()
    if pid == 0:
        os.chdir(folder)
        _cache_bytecode()
        _configure_mutmut(plan, folder)
        from mutmut.__main__ import _run

        try:
            names = survivors_of_last_run(plan) if recheck else ()
            if recheck and not names:
                os._exit(0)
            _run(names, max_children)
        finally:
            sys.stdout.flush()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"mutmut failed on {plan.path}")
    os.chdir(folder)
    try:
        return score(plan)
    finally:
        os.chdir(ROOT)


def report(scores: list[Score], survivors_file: Path) -> str:
    lines = ["| module | mutants | killed | equivalent | score |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [
        f"| {s.module} | {s.mutants} | {s.killed} | {s.equivalent} | {s.percent:.1f}% |" for s in scores
    ]
    survivors = [text for s in scores for text in s.survivors]
    survivors_file.write_text("\n".join(survivors), encoding="utf-8")
    lines.append(f"{len(survivors)} surviving mutants, their diffs in {survivors_file.relative_to(ROOT)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="module paths from tests/mutation/*.toml; all when none")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--min-score", type=float, default=0.0, help="exit 1 when a module scores below")
    parser.add_argument(
        "--recheck-survivors",
        action="store_true",
        help="run only the last run's survivors again (not after changing the module's mapped tests)",
    )
    args = parser.parse_args(argv)
    plans = load_plans()
    unknown = [m for m in args.modules if m not in plans]
    if unknown:
        parser.error(f"not in {TABLES.name}/*.toml: {', '.join(unknown)}; known: {', '.join(plans)}")
    scores = [
        run_module(plans[m], args.max_children, recheck=args.recheck_survivors)
        for m in (args.modules or list(plans))
    ]
    WORK.mkdir(parents=True, exist_ok=True)
    print(report(scores, WORK / "survivors.txt"))
    return 1 if any(s.percent < args.min_score for s in scores) else 0


if __name__ == "__main__":
    sys.exit(main())
