"""bench/cost_growth.py (growth exponents against closed forms, one tiny run), bench/grpo.py (one tiny run),
bench/pipeline.py and common.Phases."""
import importlib.util
import math
import sys

import pytest

from nano_rlhf.coursework import ROOT


def bench(stem: str):
    """bench/<stem>.py's module, under the name tests/test_cli_flags.py loads it by."""
    name = "bench_" + stem
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{stem}.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def cost_growth():
    return bench("cost_growth")


SIZES = [16, 32, 64, 128, 256]


def test_power_laws_give_their_exponent_exactly():
    m = cost_growth()
    for k, c in ((2, 3.0), (1, 1.0), (0.5, 7e-4), (3, 1e-9)):
        secs = [c * n ** k for n in SIZES]
        assert m.growth_exponent(SIZES, secs) == pytest.approx(k, abs=1e-12)
        assert m.local_exponent(SIZES, secs) == pytest.approx(k, abs=1e-12)
    assert m.growth_exponent([3, 5, 11, 40], [n for n in (3, 5, 11, 40)]) == pytest.approx(1, abs=1e-12)


def test_linear_plus_quadratic_bends_upward():
    m = cost_growth()
    sizes = [10 ** k for k in range(1, 7)]                      # the linear term wins below n = 1000
    secs = [1e-3 * n + 1e-6 * n ** 2 for n in sizes]
    fit, local = m.growth_exponent(sizes, secs), m.local_exponent(sizes, secs)
    assert local == pytest.approx(math.log10(secs[-1] / secs[-2]), abs=1e-12)   # two points: the log ratio
    assert 1.99 < local < 2 and 1 < fit < local                 # near 2 at large n; the fit averages the bend
    assert m.local_exponent(sizes[:2], secs[:2]) == pytest.approx(math.log10(0.11 / 0.0101))   # 1.04 at small n


def test_the_fit_is_least_squares():
    m = cost_growth()                                           # log-log points (0, 0), (1, 1), (2, 3): slope 1.5
    assert m.growth_exponent([1, math.e, math.e ** 2], [1, math.e, math.e ** 3]) == pytest.approx(1.5)


@pytest.mark.parametrize("sizes, secs", [([16], [1.0]), ([16, 16], [1.0, 2.0]), ([16, 32], [1.0])])
def test_too_few_points_is_an_error(sizes, secs):
    with pytest.raises(ValueError):
        cost_growth().growth_exponent(sizes, secs)


def test_a_tiny_run_prints_every_table(capsys):
    cost_growth().main(["--batches", "1", "2", "--lengths", "1", "2", "--gen-lengths", "2", "4", "--repeats", "1",
                        "--warmup", "0", "--markdown"])
    out = capsys.readouterr().out
    assert out.startswith("torch ") and "threads 1" in out.splitlines()[0]
    for series in ("ppo-batch", "ppo-length", "generate"):
        assert f"\n{series}: " in out
    rows = [line for line in out.splitlines() if line.startswith("|")]
    assert len(rows) == 2 * (4 + 2) + (4 + 2)                   # header, ---, 2 sizes, 2 exponent rows each
    assert sum(line.startswith("| exponent (fit) |") for line in rows) == 3
    assert all(line.count("|") == 6 for line in rows[:12]) and all(line.count("|") == 4 for line in rows[12:])


@pytest.mark.requires_solutions          # train_grpo's score and update call the exercises
def test_grpo_bench_tiny_run_prints_every_setting(capsys):
    """bench/grpo.py at a tiny setting: train_grpo's and bench/ppo.py's signatures still fit it, every row prints."""
    bench("grpo").main(["--repeats", "1", "--warmup", "0", "--prompts", "2", "--group-size", "2", "--prompt-len", "4",
                        "--new-tokens", "2"])
    out = capsys.readouterr().out
    assert "GRPO 2 x G 2 |" in out and "GRPO 1 x G 2 |" in out and "PPO 2" in out
    for row in ("rollout", "verify", "score", "update", "total", "responses/s", "/ PPO total"):
        assert f"\n{row:<11} | " in out, row
    assert "Target <= 0.15 s median at (a): " in out and "not this setting." in out


def test_phases_charge_each_lap_to_its_phase_and_add_up(monkeypatch):
    """common.Phases against a hand-driven clock: each lap gets the time since the previous one."""
    import nano_rlhf.common as common
    clock = iter([10.0, 10.5, 12.5, 13.0, 16.0])
    monkeypatch.setattr(common.time, "perf_counter", lambda: next(clock))
    ph = common.Phases("cpu")                                   # starts at 10.0
    assert ph.lap("forward") == 0.5 and ph.lap("backward") == 2.0
    assert ph.lap("forward") == 0.5 and ph.lap("save") == 3.0
    assert ph.report() == {"forward": 1.0, "backward": 2.0, "save": 3.0, "total": 6.0}
    assert ph.table().splitlines()[1].split()[:2] == ["save", "3.0s"]   # costliest first


def test_pipeline_profile_rows_and_prefixes():
    m = bench("pipeline")
    ph = {"train: forward": 3.0, "train: backward": 5.0, "report: sampling": 1.5, "save": 0.5, "total": 10.0}
    assert m.by_prefix(ph) == {"train": 8.0, "report": 1.5, "save": 0.5}
    rows = m.profile_rows(ph, top=2)
    assert rows == [("train: backward", 5.0, 0.5), ("train: forward", 3.0, 0.3), ("other", 2.0, 0.2)]


def test_pipeline_reports_the_summaries_of_a_tiny_chain(rm_chain_dir, tmp_path, capsys):
    """--report-only on a copy of the session's --preset test chain with a PPO run added: every stage's profile."""
    import shutil
    import train_ppo
    from nano_rlhf.common import with_preset
    for name in ("sft.pt", "rm.pt", "sft_summary.json", "rm_summary.json"):
        shutil.copy(rm_chain_dir / name, tmp_path / name)
    train_ppo.main(with_preset(train_ppo.Config, train_ppo.PRESETS, "test", out_dir=str(tmp_path)))
    m = bench("pipeline")
    capsys.readouterr()
    m.main(["--report-only", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    for stage in ("sft", "rm", "ppo"):
        assert f"\n{stage} (" in out
    assert "train: backward" in out and "rollout" in out


def test_pipeline_report_without_usable_runs_is_one_line_and_exit_2(tmp_path, capsys):
    """No summaries, damaged ones, or ones without a readable profile: one line, exit code 2."""
    m = bench("pipeline")
    for content in (None, "not json", "[1, 2]", '{"time_phases": {"train": 1.0}}', '{"time_phases": {"total": "x"}}'):
        if content is not None:
            for stage in ("sft", "rm", "ppo"):
                (tmp_path / f"{stage}_summary.json").write_text(content)
        with pytest.raises(SystemExit) as e:
            m.main(["--report-only", "--out-dir", str(tmp_path)])
        err = capsys.readouterr().err
        assert e.value.code == 2 and len(err.splitlines()) == 1 and "bench/pipeline.py" in err, (content, err)


@pytest.mark.requires_solutions
def test_the_gpu_check_dry_run_runs_every_stage_on_cpu(tmp_path):
    """bench/gpu_check.sh --dry-run: the GPU check's stages at toy sizes on CPU, one "ok" row each, in order."""
    import subprocess
    out = tmp_path / "gpu"
    r = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--dry-run", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    rows = [line.split(" | ") for line in (out / "gpu_check.md").read_text().splitlines()[2:]]
    assert r.returncode == 0, r.stdout + r.stderr
    assert [row[0].strip("| ") for row in rows] == ["env", "sft", "rm", "ppo", "grpo", "train", "ppo_bench", "sdpa",
                                                  "bf16"]
    assert all(row[1] == "ok" for row in rows), rows
    assert "gold_reward_grpo" in rows[4][3] and "math" in rows[7][3] and "verdict" in rows[8][3]
