"""The experiments' and benchmarks' flags: a bad value is one line on stderr and exit code 2, before any work."""
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from nano_rlhf.coursework import ROOT

EXPERIMENTS = ROOT / "lessons" / "experiments"


def script(rel: str):
    """The module of a script outside any package; the experiments import each other by plain name."""
    if rel.startswith("lessons/experiments/"):
        if str(EXPERIMENTS) not in sys.path:
            sys.path.insert(0, str(EXPERIMENTS))
        return importlib.import_module(Path(rel).stem)
    name = "bench_" + Path(rel).stem
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / rel)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def parser_of(rel: str):
    """What the script's `__main__` block parses sys.argv[1:] with: its parse_args (frontier.py's for
    overoptimisation.py); for reward_vs_kl.py, its main, which reads every run before it writes anything."""
    m = script(rel)
    if rel.endswith(("frontier.py", "overoptimisation.py")):
        return lambda argv: m.parse_args(argv, m.__doc__, Path(rel).stem)
    if rel.endswith("curriculum.py"):
        return lambda argv: m.parse_args(argv, m.__doc__, "curriculum", m.seeds_flag)
    return m.main if rel.endswith("reward_vs_kl.py") else m.parse_args


THREADS = [["--threads", v] for v in ("-1", "nan", "inf", "1e12", "99999", "")]
BAD = {
    "lessons/experiments/frontier.py": THREADS + [["--png", "{tmp}"], ["--work-dir", "{file}"],
                                                  ["--png", "{file}/x.png"]],
    "lessons/experiments/overoptimisation.py": THREADS + [["--png", "{tmp}"]],
    "lessons/experiments/curriculum.py": THREADS + [["--seeds"], ["--seeds", "-1"], ["--seeds", "0", "nan"],
                                                    ["--png", "{tmp}"]],
    "lessons/experiments/rm_limits.py": THREADS + [["--seed", "-1"], ["--seed", str(2**32)], ["--seed", "nan"]],
    "lessons/experiments/reward_vs_kl.py": [[], ["{tmp}/missing"], ["{tmp}/garbage"], ["{tmp}/nohistory"],
                                            ["{tmp}/ok", "--out", "{tmp}"], ["{tmp}/ok", "--out", "{file}/x.png"]],
    "bench/generate.py": THREADS[:5] + [["--threads", "0"], ["--batch", "0"], ["--lengths", "16", "0"],
                                        ["--repeats", "0"], ["--n-embd", "130"], ["--vocab", "2"], ["--seed", "-1"],
                                        ["--seed", "1e12"]],
    "bench/ppo.py": THREADS[:5] + [["--naive-width", "8"], ["--repeats", "0"], ["--new-tokens", "inf"],
                                   ["--batch", "-3"], ["--seed", "nan"], ["--device", "banana"]],
    "bench/bf16_check.py": [["--device", "banana"], ["--batch", "2"], ["--batch", "10", "--minibatches", "4"],
                            ["--new-tokens", "0"], ["--preset", "nope"], ["--logit-scale", "nan"], ["--seed", "-1"]],
    "bench/grpo.py": THREADS + [["--threads", "0"], ["--repeats", "0"], ["--warmup", "-1"], ["--prompts", "0"],
                                ["--group-size", "1"], ["--prompts", "6", "--group-size", "4"], ["--new-tokens", "inf"],
                                ["--prompt-len", "nan"], ["--seed", "-1"], ["--seed", str(2**32)]],
    "bench/cost_growth.py": THREADS + [["--threads", "0"], ["--repeats", "0"], ["--warmup", "nan"], ["--batches"],
                                       ["--batches", "16", "0"], ["--lengths", "241"], ["--gen-lengths", "16", "300"],
                                       ["--only", "nope"], ["--only"], ["--seed", "-1"], ["--long-repeats", "0"]],
    "bench/pipeline.py": THREADS + [["--out-dir", "{file}"], ["--out-dir", ""], ["--preset", "gpu"],
                                    ["--seed", "-1"], ["--seed", str(2**32)]],
    "bench/train.py": THREADS + [["--device", "banana"], ["--peak-tflops", "nan"], ["--peak-tflops", "-1"],
                                 ["--cpu-batch", "0"], ["--presets", "nope"], ["--repeats", "0"]],
}


@pytest.fixture
def paths(tmp_path):
    (tmp_path / "file").write_text("x")
    for name, text in (("garbage", "not json"), ("nohistory", "{}"), ("ok", '{"history": []}')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "ppo_summary.json").write_text(text)
    return {"tmp": str(tmp_path), "file": str(tmp_path / "file")}


def one_line_exit_2(capsys, fn, argv):
    with pytest.raises(SystemExit) as e:
        fn(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), (argv, err)
    assert "Traceback" not in err


@pytest.mark.parametrize("rel", BAD)
def test_bad_flags_are_one_line_and_exit_2(rel, paths, capsys):
    parse = parser_of(rel)
    for argv in BAD[rel]:
        one_line_exit_2(capsys, parse, [a.format(**paths) for a in argv])


GOOD = {   # flags that parse (the parsers only: nothing runs)
    "lessons/experiments/frontier.py": [["--threads", "0"], ["--threads", "4", "--quick", "--png", "{tmp}/f.png"]],
    "lessons/experiments/rm_limits.py": [["--threads", "0"], ["--seed", str(2**32 - 1)]],
    "bench/generate.py": [["--threads", "2", "--lengths", "8", "16"], ["--n-embd", "64", "--n-head", "8"]],
    "bench/ppo.py": [["--prompt-len", "8", "--naive-width", "8"]],
    "bench/grpo.py": [["--prompts", "8", "--group-size", "8", "--seed", str(2**32 - 1)]],
    "bench/cost_growth.py": [["--only", "generate", "--gen-lengths", "4", "8", "--repeats", "1", "--warmup", "0"],
                             ["--threads", "2", "--lengths", "240", "--only", "ppo-batch", "ppo-length", "--markdown"]],
    "bench/pipeline.py": [["--out-dir", "{tmp}/new/runs", "--preset", "test", "--threads", "1", "--markdown"]],
    "bench/train.py": [["--threads", "0", "--device", "cpu", "--peak-tflops", "0.5", "--presets", "test"]],
}


@pytest.mark.parametrize("rel", GOOD)
def test_good_flags_parse(rel, paths):
    for argv in GOOD[rel]:
        assert parser_of(rel)([a.format(**paths) for a in argv]) is not None


def test_the_command_line_itself_has_no_traceback():
    runs = [subprocess.Popen([sys.executable, rel, "--threads", "-1"], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for rel in ("bench/train.py",
                                                                             "lessons/experiments/rm_limits.py")]
    for p in runs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 2 and out == "" and err.startswith("error: argument --threads: -1"), err
        assert len(err.splitlines()) == 1
