"""nano_rlhf.chat: the README's command, both argument orders, interactive mode to the end of its input, and a
one-line error (exit code 2) for every bad flag, checkpoint or question."""
import io
import os
import select
import signal
import subprocess
import sys

import pytest

from nano_rlhf import chat
from nano_rlhf.coursework import ROOT

LONG = "word " * 500                     # far more tokens than any test model's block_size


def run(*args, stdin=subprocess.DEVNULL, input=None):
    return subprocess.run([sys.executable, "-m", "nano_rlhf.chat", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, input=input, stdin=None if input is not None else stdin)


def one_line_error(err: str):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err


def exits_2(capsys, argv):
    with pytest.raises(SystemExit) as e:
        chat.main(argv)
    one_line_error(capsys.readouterr().err)
    assert e.value.code == 2, argv


def answers(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("  ")]


BAD, GOOD = 2, 0
FLAGS = {   # flag: {value: expected exit code of parsing}
    "--n": {"0": BAD, "-1": BAD, "nan": BAD, "inf": BAD, "1e12": BAD, "1001": BAD, "1": GOOD},
    "--temperature": {"0": GOOD, "-1": BAD, "nan": BAD, "inf": BAD, "1e12": BAD, "0.7": GOOD},
    "--top-k": {"0": GOOD, "-1": BAD, "nan": BAD, "inf": BAD, "1e12": BAD, "5": GOOD},
    "--max-new-tokens": {"0": BAD, "-1": BAD, "nan": BAD, "inf": BAD, "1e12": BAD, "8": GOOD},
    "--seed": {"0": GOOD, "-1": BAD, "nan": BAD, "inf": BAD, "1e12": BAD, str(2**63): BAD, "7": GOOD},
}


@pytest.mark.parametrize("flag", FLAGS)
def test_flags_are_checked_before_any_model_loads(flag, capsys):
    for value, code in FLAGS[flag].items():
        argv = ["missing.pt", "What does the cow say?", f"{flag}={value}"]
        if code == BAD:
            exits_2(capsys, argv)
        else:
            args = chat.parse_args(argv)
            assert getattr(args, flag[2:].replace("-", "_")) == float(value), (flag, value)
    exits_2(capsys, ["missing.pt", "   "])                          # an empty question
    exits_2(capsys, [])                                             # no checkpoint


def test_readme_command_answers_with_both_models(ppo_chain_dir):
    d = ppo_chain_dir
    r = run(d / "ppo.pt", "--compare", d / "sft.pt", "What does the cow say?")   # the README's order
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert f"ppo ({d / 'ppo.pt'}):" in r.stdout and f"sft ({d / 'sft.pt'}):" in r.stdout
    assert len(answers(r.stdout)) == 6 and "[gold " in r.stdout                 # 3 each, scored by the world


def test_question_before_the_flags_and_bad_inputs_in_process(ppo_chain_dir, tmp_path, capsys):
    d = ppo_chain_dir
    chat.main([str(d / "ppo.pt"), "What does the cow say?", "--compare", str(d / "sft.pt"), "--n", "2"])
    out = capsys.readouterr().out
    assert "ppo (" in out and "sft (" in out and len(answers(out)) == 4
    (tmp_path / "noise.pt").write_bytes(os.urandom(4096))
    for bad in (tmp_path / "missing.pt", tmp_path, tmp_path / "noise.pt", d / "rm.pt"):   # rm.pt: the wrong stage
        exits_2(capsys, [str(bad), "What does the cow say?"])
        exits_2(capsys, [str(d / "ppo.pt"), "--compare", str(bad), "What does the cow say?"])
    exits_2(capsys, [str(d / "ppo.pt"), LONG])                          # no room left for an answer
    _, tok, model = chat.load(str(d / "ppo.pt"))
    words = lambda k: " ".join(["cow"] * k)                                           # noqa: E731
    k = next(k for k in range(1, 1000) if len(tok.encode(chat.format_prompt(words(k)))) >= model.cfg.block_size)
    chat.main([str(d / "ppo.pt"), words(k - 1), "--n", "1"])        # the longest question that leaves room
    assert len(answers(capsys.readouterr().out)) == 1
    exits_2(capsys, [str(d / "ppo.pt"), words(k)])
    exits_2(capsys, [str(d / "ppo.pt"), "--compare", str(d / "sft.pt"), LONG])


def test_interactive_ends_cleanly_when_the_input_ends(ppo_chain_dir):
    r = run(ppo_chain_dir / "ppo.pt")                                   # stdin: /dev/null, at once at its end
    assert r.returncode == 0 and r.stderr == "" and answers(r.stdout) == [], r.stderr


def test_interactive_refuses_a_long_question_and_answers_the_next(ppo_chain_dir, monkeypatch, capsys):
    typed = f"{LONG}\nWhat does the cow say?\n".encode() + b"\xff\xfe?\n"     # the last one is not UTF-8
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(typed), encoding="utf-8"))
    chat.main([str(ppo_chain_dir / "ppo.pt"), "--n", "2"])             # returns at the end of the input
    out, err = capsys.readouterr()
    one_line_error(err)
    assert "ask a shorter question" in err and len(answers(out)) == 4
    monkeypatch.setattr(sys, "stdin", None)                             # started with stdin closed (`<&-`)
    chat.main([str(ppo_chain_dir / "ppo.pt")])
    assert capsys.readouterr() == ("", "")


def test_ctrl_c_at_the_prompt_exits_130_without_a_traceback(ppo_chain_dir):
    p = subprocess.Popen([sys.executable, "-m", "nano_rlhf.chat", str(ppo_chain_dir / "ppo.pt")], cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = b""
        while b"you> " not in seen:                                     # input() flushes its prompt: waiting
            assert select.select([p.stdout], [], [], 60)[0], "no prompt within 60 s"
            chunk = os.read(p.stdout.fileno(), 100)
            assert chunk, p.stderr.read().decode()
            seen += chunk
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130 and b"Traceback" not in err, err.decode()


def test_a_reader_that_leaves_early_is_no_traceback(ppo_chain_dir):
    p = subprocess.Popen([sys.executable, "-m", "nano_rlhf.chat", str(ppo_chain_dir / "ppo.pt"), "Hi", "--n", "1"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()                                                    # like `| head -0`: gone before any output
    err = p.communicate(timeout=60)[1].decode()
    assert p.returncode == 1 and err == "", err
