"""The coursework machinery: the student copy blanks exactly the solutions, and the grader grades them."""
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from nano_rlhf import coursework as cw
from nano_rlhf.coursework import ROOT

pytestmark = pytest.mark.skipif((ROOT / cw.MANIFEST).exists(), reason="tests the reference repository only")
STUB = re.compile(r'(\s*)raise NotImplementedError\("Exercise (\d+): (\w+) — see (\S+)"\)\n')


def run(*args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def solution_lines(file):
    """{exercise name: the lines of its solution block(s), markers excluded} of a reference file."""
    text = (ROOT / file).read_text().splitlines(keepends=True)
    return {cw.exercise_name(r.name): [line for b, e in r.solutions for line in text[b + 1:e]]
            for r in cw.parse_regions("".join(text), file) if r.solutions}


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "copy"
    cw.make_student_copy(out)
    return out


def test_reference_has_graded_exercises_and_no_stubs():
    exercises, graded = cw.exercises(), cw.graded_tests()
    assert len(exercises) >= 2 and [e.number for e in exercises] == sorted({e.number for e in exercises})
    for e in exercises:
        assert graded.get(e.name, 0) >= 1, f"exercise {e.name} has no @pytest.mark.exercise({e.name!r}) test"
    assert not [f for f in cw.source_files() if cw.UNSOLVED in (ROOT / f).read_text()]


def test_student_copy_replaces_each_solution_by_a_stub_and_nothing_else(copy):
    numbers = {e.name: e.number for e in cw.exercises()}
    assert (copy / cw.MANIFEST).is_file()
    for rel in cw.repo_files():
        ref, new = (ROOT / rel).read_bytes(), (copy / rel).read_bytes()
        lines = ref.decode(errors="replace").splitlines(keepends=True)
        if not rel.endswith(".py") or not any(line.strip() == "# BEGIN SOLUTION" for line in lines):
            assert new == ref or rel.startswith("lessons/"), rel
            continue
        new_lines, stubs, skipping = iter(new.decode().splitlines(keepends=True)), 0, False
        for line in lines:
            if line.strip() == "# BEGIN SOLUTION":
                m = STUB.fullmatch(next(new_lines))
                assert m and m[1] == line[:len(line) - len(line.lstrip())] and numbers[m[3]] == int(m[2]), rel
                stubs, skipping = stubs + 1, True
            elif not skipping:
                assert next(new_lines) == line, rel
            skipping = skipping and line.strip() != "# END SOLUTION"
        assert next(new_lines, None) is None and stubs >= 1, rel


def test_student_lessons_quote_the_stubs_not_the_answers(copy):
    lessons = "".join(md.read_text() for md in sorted((copy / "lessons").glob("*.md")))
    for e in cw.exercises():
        for line in solution_lines(e.file)[e.name]:
            if len(line.strip()) > 12:             # long enough not to be a common line like `return x`
                assert line.strip() not in lessons, f"the answer to {e.name} ships in the lessons"
    assert "raise NotImplementedError(" in lessons   # lessons/02-model.md quotes the attention stub


def test_student_copy_imports_and_refuses_to_overwrite(copy, tmp_path, capsys):
    modules = sorted({e.file[:-3].replace("/", ".") for e in cw.exercises()})
    r = run("-c", f"import {', '.join(modules)}", cwd=copy)
    assert r.returncode == 0, r.stderr
    (tmp_path / "x").write_text("")
    assert cw.main(["student", str(tmp_path)]) == 2 and "not empty" in capsys.readouterr().err
    assert cw.main(["student", str(ROOT / "out-student")]) == 2 and "inside the repository" in capsys.readouterr().err
    assert not (ROOT / "out-student").exists()


def test_graded_tests_fail_in_the_copy_while_the_rest_passes_or_skips(copy, tmp_path):
    r = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "exercise", f"--junitxml={tmp_path / 'r.xml'}",
            cwd=copy)
    cases = list(ET.parse(tmp_path / "r.xml").getroot().iter("testcase"))
    assert r.returncode == 1 and cases
    for case in cases:
        failure = case.find("failure")
        assert failure is not None and "NotImplementedError: Exercise" in failure.get("message"), case.get("name")
    (copy / "tests" / "test_zz_needs.py").write_text(
        "import pytest\n\n@pytest.mark.requires_solutions\ndef test_end_to_end():\n    assert False\n\n\n"
        "def test_trained(chain_dir):\n    assert False\n")
    r = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests/test_tokenizer.py", "tests/test_zz_needs.py",
            cwd=copy)
    (copy / "tests" / "test_zz_needs.py").unlink()
    assert r.returncode == 0 and r.stdout.count(cw.NEEDS_ALL) == 2, r.stdout    # the tokenizer's tests pass


def test_solving_one_exercise_makes_exactly_it_pass_in_the_grader(tmp_path):
    copy = tmp_path / "copy"
    cw.make_student_copy(copy)
    e = next(e for e in cw.exercises() if e.name == "attention")
    path = copy / e.file
    path.write_text(re.sub(r'[ \t]*raise NotImplementedError\("Exercise \d+: attention .*\n',
                           lambda _: "".join(solution_lines(e.file)["attention"]), path.read_text()))
    r = run("-m", "nano_rlhf.coursework", "grade", "--only", "attention", "--only", "sft_loss", cwd=copy)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"Exercise 1  attention  PASS  \((\d+)/\1 tests\)", r.stdout), r.stdout
    assert re.search(r"Exercise 2  sft_loss  FAIL  \(0/\d+ tests\)", r.stdout), r.stdout
    assert "NotImplementedError: Exercise 2: sft_loss" in r.stdout and "score: 1/2" in r.stdout


def test_list_names_every_exercise(capsys):
    assert cw.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(re.search(rf"^\s*{e.number}\s+{e.name}\s", out, re.M) for e in cw.exercises())


def test_grade_and_student_refuse_what_is_not_a_copy_with_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / cw.MANIFEST).write_text("1\tattention\n")          # a row without file and lesson
    for argv in (["grade", str(tmp_path / "missing")], ["grade", str(tmp_path)], ["grade", str(tmp_path / "file")],
                 ["grade", str(tmp_path / "damaged")], ["student", str(tmp_path / "file")]):
        assert cw.main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert out == "" and len(err.splitlines()) == 1 and err.startswith("error: "), (argv, out, err)
    for argv in (["bogus"], ["grade", "--only"], ["student"], []):               # the parser's own errors
        with pytest.raises(SystemExit) as e:
            cw.main(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), (argv, err)
    r = run("-c", "import sys, nano_rlhf.coursework; assert 'torch' not in sys.modules", cwd=ROOT)
    assert r.returncode == 0, r.stderr                      # `coursework list` stays quick: no torch


def test_grading_stops_tests_that_run_too_long(monkeypatch):
    monkeypatch.setattr(cw, "GRADE_TIMEOUT", 0.01)          # every run is too long: an endless loop, say
    passed, total, why, code = cw.grade_one("attention")
    assert (passed, total, code) == (0, 0, -1) and "were stopped" in why[0]
