"""Coursework: the reference code holds the answers; a student copy blanks them; the tests grade them.

    python -m nano_rlhf.coursework list                      # the exercises, their files, lessons, graded tests
    python -m nano_rlhf.coursework student OUT_DIR           # write the student handout (answers replaced by stubs)
    python -m nano_rlhf.coursework grade [DIR] [--only NAME] # run each exercise's graded tests, print a score
    python -m nano_rlhf.coursework snippets [--check]        # refresh (or check) the code quoted in lessons/*.md

Conventions, all in plain comment lines of the source (never line numbers):
- A lesson region is the code between a line `# [lesson:NAME]` and a line `# [/lesson:NAME]` in a .py file.
  Regions may nest; NAME is unique within its file. Lessons quote a region by `path/to/file.py#NAME`.
- A solution block is the code between a line `# BEGIN SOLUTION` and a line `# END SOLUTION`, inside a lesson
  region. The innermost region around it is an exercise, named NAME with '-' read as '_' (`sft-loss`: `sft_loss`).
  In the student copy the whole block, marker lines included, becomes one line at the BEGIN line's indentation:
  raise NotImplementedError(<"Exercise N: NAME — see LESSON">)
- A graded test carries `@pytest.mark.exercise("NAME")`; `pytest --exercise NAME` runs only those (conftest.py).
- A snippet in lessons/*.md is a comment line `<!-- snippet: FILE#NAME -->`, a ```python fence holding the
  region's code (dedented, marker lines left out), and a closing line `<!-- /snippet -->`.
- The student copy's root holds STUDENT_COPY, a manifest of its exercises (number, name, file, lesson, tab-separated).
  Tests marked `requires_solutions`, and the training fixtures, skip there while a stub is still unsolved.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["attention", "sft_loss", "bt_loss", "kl_penalty", "gae", "policy_loss", "value_loss", "dpo_loss",
         "group_advantages", "loss_weights", "shaping", "aggregate", "ai_preference"]
LESSONS = {"attention": "lessons/02-model.md", "sft_loss": "lessons/03-sft.md", "bt_loss": "lessons/04-reward-model.md",
           "kl_penalty": "lessons/05-ppo.md", "gae": "lessons/05-ppo.md", "policy_loss": "lessons/05-ppo.md",
           "value_loss": "lessons/05-ppo.md", "dpo_loss": "lessons/07-rlhf-at-scale.md",
           "group_advantages": "lessons/09-critic-free.md", "loss_weights": "lessons/09-critic-free.md",
           "shaping": "lessons/05-ppo.md", "aggregate": "lessons/06-reward-hacking.md",
           "ai_preference": "lessons/08-future.md"}
MANIFEST = "STUDENT_COPY"
# (spelled in two halves so that this file itself never contains what a remaining stub contains)
STUB = 'raise NotImplementedError(' + '"Exercise {number}: {name} — see {lesson}")'
UNSOLVED = 'NotImplementedError(' + '"Exercise '     # what a remaining stub contains
NEEDS_ALL = "needs every exercise solved (end-to-end run)"
GRADE_TIMEOUT = 600     # seconds for one exercise's graded tests (they take seconds)

OPEN, CLOSE = re.compile(r"\s*# \[lesson:([\w-]+)\]\s*$"), re.compile(r"\s*# \[/lesson:([\w-]+)\]\s*$")
BEGIN, END = re.compile(r"\s*# BEGIN SOLUTION\s*$"), re.compile(r"\s*# END SOLUTION\s*$")
SNIPPET = re.compile(r"<!-- snippet: (?P<file>[^#\s]+)#(?P<name>[\w-]+) -->\n"
                     r"```python\n(?P<code>.*?)```\n<!-- /snippet -->", re.S)


@dataclass
class Region:
    file: str                     # path relative to the repository root, with '/'
    name: str
    start: int                    # 0-based line index of the `[lesson:NAME]` line
    end: int                      # ... and of the `[/lesson:NAME]` line
    solutions: list = field(default_factory=list)   # (begin, end) line indices of the solution blocks inside


Exercise = namedtuple("Exercise", "number name file lesson")     # lesson: the Markdown file that explains it


# ----------------------------------------------------------------------------------------------------------------
# Scanning the source

def repo_files(root=ROOT):
    """Relative paths of the repository's files: git's tracked and untracked-but-not-ignored files, else a walk."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                             capture_output=True, text=True, check=True).stdout
        inside = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        if Path(inside).resolve() == Path(root).resolve():
            return sorted({p for p in out.split("\0") if p and (Path(root) / p).is_file()})
    except (OSError, subprocess.CalledProcessError):
        pass
    skip = {".git", "__pycache__", ".pytest_cache", "runs", "build"}
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        top = Path(dirpath) == Path(root)
        dirnames[:] = [d for d in dirnames if d not in skip and not d.endswith(".egg-info")
                       and not (top and d.startswith("out"))]
        files += [(Path(dirpath) / f).relative_to(root).as_posix() for f in filenames]
    return sorted(files)


def source_files(root=ROOT):
    """The .py files that may hold lesson regions: every one outside tests/."""
    return [f for f in repo_files(root) if f.endswith(".py") and not f.startswith("tests/")]


def parse_regions(text, file="<text>"):
    """The lesson regions of one file, checked: every region closed, every solution block paired and inside one."""
    regions, stack, begin = [], [], None
    for i, line in enumerate(text.splitlines()):
        if m := OPEN.match(line):
            if any(r.name == m[1] for r in regions + stack):
                raise ValueError(f"{file}:{i + 1}: lesson region '{m[1]}' defined twice")
            stack.append(Region(file, m[1], i, -1))
        elif m := CLOSE.match(line):
            if not stack or stack[-1].name != m[1]:
                raise ValueError(f"{file}:{i + 1}: [/lesson:{m[1]}] closes no open [lesson:{m[1]}]")
            if begin is not None:
                raise ValueError(f"{file}:{i + 1}: lesson region '{m[1]}' ends inside a solution block")
            stack[-1].end = i
            regions.append(stack.pop())
        elif BEGIN.match(line):
            if begin is not None or not stack:
                raise ValueError(f"{file}:{i + 1}: BEGIN SOLUTION " +
                                 ("inside another solution block" if stack else "outside any lesson region"))
            begin = i
        elif END.match(line):
            if begin is None:
                raise ValueError(f"{file}:{i + 1}: END SOLUTION without BEGIN SOLUTION")
            stack[-1].solutions.append((begin, i))
            begin = None
    if stack:
        raise ValueError(f"{file}:{stack[-1].start + 1}: lesson region '{stack[-1].name}' is never closed")
    return sorted(regions, key=lambda r: r.start)


def all_regions(root=ROOT):
    """{file: [Region, ...]} for every source file that has any."""
    found = {f: parse_regions((Path(root) / f).read_text(encoding="utf-8"), f) for f in source_files(root)}
    return {f: rs for f, rs in found.items() if rs}


def exercise_name(region_name):
    return region_name.replace("-", "_")


def exercises(root=ROOT):
    """The exercises, numbered by ORDER (stable numbers; unknown names follow, alphabetically).

    In a student copy they come from its STUDENT_COPY manifest, since its solution blocks are gone."""
    manifest = Path(root) / MANIFEST
    if manifest.exists():
        rows = [line.split("\t") for line in manifest.read_text("utf-8").splitlines() if line and line[0] != "#"]
        if not all(len(r) == 4 and r[0].isdigit() for r in rows):
            raise ValueError(f"{manifest} is damaged (a line is not NUMBER, NAME, FILE, LESSON, tab-separated): "
                             "write the student copy again")
        return [Exercise(int(n), name, file, lesson) for n, name, file, lesson in rows]
    found = {}
    for file, regions in all_regions(root).items():
        for r in regions:
            if r.solutions:         # the blocks belong to the innermost region around them
                name = exercise_name(r.name)
                if name in found:
                    raise ValueError(f"exercise '{name}' defined twice: {found[name].file} and {file}")
                found[name] = r
    extra = sorted(n for n in found if n not in ORDER)
    number = {n: i + 1 for i, n in enumerate(ORDER + extra)}
    return sorted(Exercise(number[n], n, r.file, LESSONS.get(n, "lessons/")) for n, r in found.items())


def graded_tests(root=ROOT):
    """{exercise name: number of test functions marked with it}, read from tests/*.py without running pytest."""
    counts = {}
    for f in sorted((Path(root) / "tests").glob("test_*.py")):
        for name in re.findall(r"mark\.exercise\(\s*[\"']([\w-]+)[\"']", f.read_text("utf-8")):
            counts[name] = counts.get(name, 0) + 1
    return counts


def unsolved(root=ROOT):
    """Whether a stub is left in the exercises' files (of a student copy)."""
    files = {Path(root) / e.file for e in exercises(root)}
    return any(f.exists() and UNSOLVED in f.read_text("utf-8") for f in files)


# ----------------------------------------------------------------------------------------------------------------
# Quoting regions in lessons

def quote(lines, region):
    """A region's code as a lesson shows it: the lines inside the markers, dedented, without marker lines."""
    body = [line for line in lines[region.start + 1:region.end]
            if not any(p.match(line) for p in (OPEN, CLOSE, BEGIN, END))]
    return textwrap.dedent("\n".join(body) + "\n")


def update_snippets(root=ROOT, write=True, only=None):
    """Refresh the snippets of lessons/*.md from the source (only those quoting `only`'s (file, region name) pairs,
    if given); return the problems found, one 'LESSON: FILE#NAME: why' each."""
    problems, cache = [], {}
    for md in sorted((Path(root) / "lessons").glob("*.md")):
        text, rel = md.read_text("utf-8"), md.relative_to(root).as_posix()

        def render(m):
            file, name, where = m["file"], m["name"], f"{rel}: {m['file']}#{m['name']}"
            if only is not None and (file, name) not in only:
                return m[0]
            if file not in cache:
                path = Path(root) / file
                src = path.read_text("utf-8") if path.is_file() else None
                cache[file] = src and (src.splitlines(), parse_regions(src, file))
            if not cache[file]:
                problems.append(f"{where}: no file {file}")
                return m[0]
            lines, regions = cache[file]
            region = next((r for r in regions if r.name == name), None)
            if region is None:
                problems.append(f"{where}: {file} has no region [lesson:{name}]")
                return m[0]
            code = quote(lines, region)
            if code != m["code"]:
                problems.append(f"{where}: stale")
            return m[0][:m.start("code") - m.start()] + code + m[0][m.end("code") - m.start():]

        new = SNIPPET.sub(render, text)
        if write and new != text:
            md.write_text(new, encoding="utf-8")
    return problems


# ----------------------------------------------------------------------------------------------------------------
# The student copy

def make_student_copy(out, root=ROOT):
    """Copy the repository to `out` with every solution block replaced by its stub; return the exercises."""
    out, root = Path(out).resolve(), Path(root).resolve()
    if out == root or root in out.parents:
        raise ValueError(f"{out} is inside the repository; choose a folder outside it")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file: choose a new folder for the student copy")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} exists and is not empty")
    exs, regions = exercises(root), all_regions(root)
    stub = {(e.file, e.name): STUB.format(number=e.number, name=e.name, lesson=e.lesson) for e in exs}
    blanked = set()     # (file, region name) of the regions containing a solution block: their snippets change
    for rel in repo_files(root):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, out / rel)
        if rel not in regions:
            continue
        lines = (root / rel).read_text("utf-8").splitlines(keepends=True)
        blocks = sorted((b, e, exercise_name(r.name)) for r in regions[rel] for b, e in r.solutions)
        for b, e, name in reversed(blocks):
            indent = lines[b][:len(lines[b]) - len(lines[b].lstrip())]
            lines[b:e + 1] = [indent + stub[(rel, name)] + "\n"]
        (out / rel).write_text("".join(lines), encoding="utf-8")
        blanked |= {(rel, r.name) for r in regions[rel] for b, _, _ in blocks if r.start < b < r.end}
    update_snippets(out, write=True, only=blanked)
    (out / MANIFEST).write_text("# nano-rlhf student copy: its exercises (number, name, file, lesson). "
                                "Grade them: python -m nano_rlhf.coursework grade\n" +
                                "".join(f"{e.number}\t{e.name}\t{e.file}\t{e.lesson}\n" for e in exs), "utf-8")
    return exs


# ----------------------------------------------------------------------------------------------------------------
# Grading

def grade_one(name, root=ROOT):
    """Run the exercise's graded tests in `root`: (passed, total, [first line of each failure], pytest's exit code)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        try:
            r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--exercise", name,
                                f"--junitxml={report}"], cwd=root, capture_output=True, text=True,
                               timeout=GRADE_TIMEOUT)
        except subprocess.TimeoutExpired:       # an endless loop in a solution must not hang the grader
            return 0, 0, [f"its tests ran for more than {GRADE_TIMEOUT} s and were stopped (an endless loop?)"], -1
        if not report.exists():
            return 0, 0, (r.stdout + r.stderr).strip().splitlines()[-1:], r.returncode
        cases = ET.parse(report).getroot().iter("testcase")
    passed, total, why = 0, 0, []
    for case in cases:
        total += 1
        bad = [c for c in case if c.tag in ("failure", "error", "skipped")]
        if not bad:
            passed += 1
        else:
            msg = (bad[0].get("message") or bad[0].tag).strip().splitlines()
            why.append(f"{case.get('name')}: {msg[0] if msg else bad[0].tag}")
    return passed, total, why, r.returncode


def grade(root=ROOT, only=()):
    """Print one line per exercise and the score; return 0, or 1 if an exercise could not be graded."""
    root = Path(root)
    # a checkout or a copy has one of these; without the check any folder would be walked, and score 0/0
    if not ((root / MANIFEST).is_file() or (root / "nano_rlhf" / "coursework.py").is_file()):
        why = "no such folder" if not root.exists() else "not a nano-rlhf checkout or student copy"
        raise ValueError(f"{root}: {why}; pass the folder that `python -m nano_rlhf.coursework student DIR` wrote")
    found = exercises(root)
    if not found:
        raise ValueError(f"{root} holds no exercises (no {MANIFEST} manifest, no solution blocks)")
    exs = [e for e in found if not only or e.name in only]
    if only and len(exs) < len(set(only)):
        raise ValueError(f"no exercise named {', '.join(sorted(set(only) - {e.name for e in exs}))}")
    score, broken = 0, False
    for e in exs:
        passed, total, why, code = grade_one(e.name, root)
        if total == 0 or code not in (0, 1):          # 1: tests failed; anything else: pytest could not run them
            broken = True
            why = why or [f"no tests marked @pytest.mark.exercise({e.name!r})"]
            print(f"Exercise {e.number}  {e.name}  ERROR  (pytest exit code {code}, {passed}/{total} tests)")
        else:
            ok = passed == total
            score += ok
            print(f"Exercise {e.number}  {e.name}  {'PASS' if ok else 'FAIL'}  ({passed}/{total} tests)")
        for line in why:
            print(f"    {line}")
    print(f"score: {score}/{len(exs)}")
    return 1 if broken else 0


# ----------------------------------------------------------------------------------------------------------------

def make_parser():
    import argparse

    class Parser(argparse.ArgumentParser):      # common.ArgumentParser's one-line errors, without importing torch
        def error(self, message):
            print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
            sys.exit(2)

    parser = Parser(prog="python -m nano_rlhf.coursework", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)     # the subparsers are Parsers too
    sub.add_parser("list", help="the exercises, their files, lessons and graded tests")
    p = sub.add_parser("student", help="write a student copy with every solution replaced by a stub")
    p.add_argument("out_dir")
    p = sub.add_parser("grade", help="run each exercise's graded tests and print the score")
    p.add_argument("dir", nargs="?", default=str(ROOT))
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="grade only this exercise (repeatable)")
    p = sub.add_parser("snippets", help="refresh the code snippets of lessons/*.md from the source")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a snippet is stale or broken")
    return parser


def main(argv=None):
    from nano_rlhf import interrupts_raise
    interrupts_raise()                          # Ctrl-C: KeyboardInterrupt, handled below
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            counts = graded_tests()
            print(f"{'#':>2}  {'exercise':<16} {'file':<20} {'lesson':<30} graded tests")
            for e in exercises():
                print(f"{e.number:>2}  {e.name:<16} {e.file:<20} {e.lesson:<30} {counts.get(e.name, 0)}")
        elif args.command == "student":
            exs = make_student_copy(args.out_dir)
            print(f"wrote {args.out_dir}: {len(exs)} exercises stubbed ({', '.join(e.name for e in exs)})")
        elif args.command == "grade":
            return grade(Path(args.dir).resolve(), args.only)
        elif args.command == "snippets":
            problems = update_snippets(write=not args.check)
            for line in problems:
                print(line if args.check else line.replace(": stale", ": refreshed"))
            broken = [line for line in problems if args.check or not line.endswith(": stale")]
            return 1 if broken else 0
    except (ValueError, OSError) as err:       # a one-line error, no traceback
        what = f"{err.filename}: {err.strerror}" if isinstance(err, OSError) and err.filename else err
        print(f"error: {what}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print()                                 # end the line the terminal's ^C is on
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
