"""The commands the docs show (README.md, lessons/*.md) still work: a flag renamed in the code, or a command changed
in the docs, fails here. Training, experiment and benchmark commands are parsed by their own parsers (never run);
the chat commands of the two READMEs and `coursework list` run for real, on the --preset test chain. The scripts that
re-measure the committed numbers (lessons/results/*.sh) run with a stand-in `python` that records each command,
and every recorded command is parsed the same way."""
import importlib
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from nano_rlhf.coursework import ROOT

RUN = ("README.md", "lessons/README.md")    # their chat commands run; the lessons' are parsed only (seconds each)
DOCS = RUN + tuple(sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "lessons").glob("*.md")
                          if p.name != "README.md"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
SKIP = ("pip", "pytest")                  # `python -m pip ...`, `python -m pytest ...`: not ours to check
TRAINING = {"train_sft.py": "train_sft", "train_rm.py": "train_rm", "train_ppo.py": "train_ppo",
            "train_dpo.py": "train_dpo", "train_grpo.py": "train_grpo", "nano_rlhf.best_of_n": "nano_rlhf.best_of_n"}


def documented_commands() -> dict[tuple, list[str]]:
    """{the words of one `python ...` command: the docs that show it}, from the shell blocks (each part of a
    `a && b` line on its own; comments dropped)."""
    found = {}
    for doc in DOCS:
        for lang, body in FENCE.findall((ROOT / doc).read_text("utf-8")):
            if lang not in ("", "bash", "sh", "shell"):
                continue
            for line in body.replace("\\\n", " ").splitlines():
                if line.lstrip().startswith("torchrun "):   # torchrun's own flags, then the script and its flags
                    words = line.split()
                    line = "python " + " ".join(words[next(i for i, w in enumerate(words) if w.endswith(".py")):])
                if not line.lstrip().startswith("python"):
                    continue
                words, part = shlex.split(line, comments=True) + ["&&"], []
                for w in words:
                    if w not in ("&&", "||", ";"):
                        part.append(w)
                        continue
                    if part and part[0] == "python" and not (part[1:2] == ["-m"] and part[2] in SKIP):
                        found.setdefault(tuple(part), []).append(doc)
                    part = []
    return found


COMMANDS = documented_commands()


def target(cmd: tuple) -> tuple[str, list[str]]:
    """('train_sft.py', argv) for `python train_sft.py ...`, ('nano_rlhf.chat', argv) for `python -m ...`."""
    return (cmd[2], list(cmd[3:])) if cmd[1] == "-m" else (cmd[1], list(cmd[2:]))


def local_paths(argv: list[str], here: Path) -> list[str]:
    """The command's arguments as run from `here`: a file of the repository is given by its absolute path; one
    under out/ (what an earlier step writes) is created, empty, under `here`/out/, for the path checks."""
    out = []
    for a in argv:
        if not a.startswith("-") and (ROOT / a).exists():
            a = str(ROOT / a)
        elif a.startswith("out/") and Path(a).suffix:
            (here / a).parent.mkdir(parents=True, exist_ok=True)
            (here / a).touch()
        out.append(a)
    return out


def parses(parse, argv, what, capsys):
    try:
        return parse(argv)
    except SystemExit as e:
        pytest.fail(f"{what} does not parse (exit code {e.code}): {capsys.readouterr().err.strip()}")


def parse_only(name, argv, what, here, monkeypatch, capsys):
    """A training script's, a bench script's or an experiment's command: parsed by its own parser, never run."""
    if name in TRAINING:
        from nano_rlhf.common import parse_config
        module = importlib.import_module(TRAINING[name])
        parses(lambda a: parse_config(module.Config, module.PRESETS, a), local_paths(argv, here), what, capsys)
    elif name.startswith("bench/"):
        spec = importlib.util.spec_from_file_location("bench_" + Path(name).stem, ROOT / name)
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
        parses(m.parse_args, local_paths(argv, here), what, capsys)
    elif name.startswith("lessons/experiments/"):
        monkeypatch.syspath_prepend(str(ROOT / "lessons" / "experiments"))    # they import each other so
        stem = Path(name).stem
        m = importlib.import_module(stem)
        shared = stem in ("frontier", "overoptimisation")          # both parse with frontier.parse_args
        parse = (getattr(m, "parse", None)                          # frontier's parser with --seeds
                 or ((lambda a: m.parse_args(a, m.__doc__, stem)) if shared else m.parse_args))
        parses(parse, local_paths(argv, here), what, capsys)
    elif name.startswith("lessons/results/") and name.endswith(".py"):
        assert not argv, f"{what}: {name} takes no arguments"
    else:
        pytest.fail(f"{what}: no check for this command yet; add one to tests/test_docs_commands.py")


SCRIPTS = sorted(p.name for p in (ROOT / "lessons" / "results").glob("*.sh") if p.name != "ppo_run.sh")


def script_commands(script: str, tmp_path: Path) -> list[list[str]]:
    """The python commands a lessons/results/ script would run, with its loops, functions and variables expanded by
    bash itself: the script runs in a copy of the folder with `python` and `cp` replaced by stand-ins (python
    records its arguments; cp does nothing), so nothing is trained, read or written outside tmp_path."""
    work, bin_dir, log = tmp_path / "repo", tmp_path / "bin", tmp_path / "commands.jsonl"
    (work / "lessons" / "results").mkdir(parents=True)
    for sh in (ROOT / "lessons" / "results").glob("*.sh"):
        (work / "lessons" / "results" / sh.name).write_text(sh.read_text())
    for d in ("lessons/experiments", "lessons/figures", "runs/results"):   # runs/results: after reproduce.sh
        (work / d).mkdir(parents=True, exist_ok=True)
    bin_dir.mkdir()
    record = "import json, os, sys; open(os.environ['COMMANDS'], 'a').write(json.dumps(sys.argv[1:]) + '\\n')"
    (bin_dir / "python").write_text(f"#!/bin/sh\nexec {sys.executable} -c \"{record}\" \"$@\"\n")
    (bin_dir / "cp").write_text("#!/bin/sh\nexit 0\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "COMMANDS": str(log), "HOME": str(tmp_path)}
    r = subprocess.run(["bash", str(work / "lessons" / "results" / script)], cwd=work, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, f"lessons/results/{script} does not run with stand-ins: {r.stderr[-2000:]}"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_results_scripts_commands_parse(script, tmp_path, monkeypatch, capsys):
    """Every python command of the scripts that re-measure the committed numbers (lessons/results/*.sh) parses: a
    flag renamed in the code fails here, not an hour into reproduce.sh."""
    commands = [c for c in script_commands(script, tmp_path) if c[:1] != ["-c"]]   # `python -c` is not ours
    assert commands, f"lessons/results/{script} runs no python command"
    monkeypatch.chdir(tmp_path / "repo")
    for argv in commands:
        name, rest = (argv[1], argv[2:]) if argv[0] == "-m" else (argv[0], argv[1:])
        for a in rest:            # a file an earlier step writes (an sft.pt to --init from, say): present, empty
            if a.startswith("runs/") and Path(a).suffix:
                (tmp_path / "repo" / a).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / "repo" / a).touch()
        parse_only(name, rest, f"`python {' '.join(argv)}` (in lessons/results/{script})", tmp_path / "repo",
                   monkeypatch, capsys)


def test_the_docs_show_commands():
    names = {target(c)[0] for c in COMMANDS}
    assert {"train_sft.py", "train_rm.py", "train_ppo.py", "nano_rlhf.chat", "nano_rlhf.coursework"} <= names, names


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_documented_command(cmd, request, tmp_path, monkeypatch, capsys):
    name, argv = target(cmd)
    what = f"`{' '.join(cmd)}` (in {', '.join(COMMANDS[cmd])})"
    assert cmd[1] == "-m" or (ROOT / name).is_file(), f"{what}: there is no {name}"
    monkeypatch.chdir(tmp_path)               # out/ and every other relative path: under tmp_path
    if name in TRAINING or name.startswith(("bench/", "lessons/experiments/")):
        parse_only(name, argv, what, tmp_path, monkeypatch, capsys)
    elif name == "nano_rlhf.coursework" and argv[:1] == ["list"]:
        r = subprocess.run([sys.executable, *cmd[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "attention" in r.stdout, f"{what}: {r.stderr}"
    elif name == "nano_rlhf.coursework":      # student writes a copy, grade runs the tests: parsed only
        from nano_rlhf.coursework import make_parser
        parses(make_parser().parse_args, argv, what, capsys)
    elif name == "nano_rlhf.chat" and not set(COMMANDS[cmd]) & set(RUN):
        from nano_rlhf import chat
        parses(chat.parse_args, argv, what, capsys)
    elif name == "nano_rlhf.chat":            # run for real, out/ being the test chain
        chain = request.getfixturevalue("ppo_chain_dir")
        if any("dpo.pt" in a for a in argv):
            request.getfixturevalue("dpo_chain_dir")        # the same folder, with dpo.pt added
        argv = [f"{chain}/{a[4:]}" if a.startswith("out/") else a for a in argv]
        from nano_rlhf import chat
        args = parses(chat.parse_args, argv, what, capsys)
        if args.question is None:                     # interactive: parsing is all there is to check here
            return                                    # (tests/test_chat.py runs it on a closed stdin)
        chat.main(argv)                               # in-process: the same code path, without a new interpreter
        out = capsys.readouterr().out
        models = [line for line in out.splitlines() if line.endswith(".pt):")]   # "ppo (.../ppo.pt):"
        assert len(models) == 1 + bool(args.compare), f"{what}: {out}"
    else:
        pytest.fail(f"{what}: no check for this command yet; add one to tests/test_docs_commands.py")
