"""Reward-model ensembles (nano_rlhf/ensemble.py, train_ppo.py --ensemble) and lessons/experiments/ensembles.py."""
import shutil
import sys
from pathlib import Path

import pytest
import torch

import train_ppo
from nano_rlhf.common import UserError, with_preset
from nano_rlhf.ensemble import EnsembleRM, aggregate, paths_problem
from nano_rlhf.model import GPTConfig, ValueModel

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.exercise("aggregate")
def test_the_aggregates_by_hand():
    scores = torch.tensor([[1.0, 2.0], [3.0, 0.0], [2.0, 4.0]])          # K = 3 members x 2 responses
    assert aggregate(scores, "mean").tolist() == [2.0, 2.0]
    assert aggregate(scores, "min").tolist() == [1.0, 0.0]
    # lcb = mean - std with the unbiased std: column 1 (1, 3, 2): std 1; column 2 (2, 0, 4): std 2
    assert torch.allclose(aggregate(scores, "lcb"), torch.tensor([1.0, 0.0]))


@pytest.mark.exercise("aggregate")
def test_each_member_is_normalised_before_aggregating():
    torch.manual_seed(0)
    cfg = GPTConfig(block_size=16, vocab_size=30, n_layer=1, n_head=2, n_embd=16)
    a, b = ValueModel(cfg).eval(), ValueModel(cfg).eval()
    norms = [{"gain": 2.0, "bias": -1.0}, {"gain": 0.5, "bias": 3.0}]
    idx = torch.randint(0, 30, (4, 7))
    with torch.no_grad():
        va, vb = 2.0 * a(idx) - 1.0, 0.5 * b(idx) + 3.0                    # each member's normalised values
        for how, expect in (("mean", (va + vb) / 2), ("min", torch.minimum(va, vb)),
                            ("lcb", (va + vb) / 2 - (va - vb).abs() / 2 ** 0.5)):   # std of two: |a - b| / sqrt 2
            assert torch.allclose(EnsembleRM([a, b], norms, how)(idx), expect, atol=1e-6), how


def test_ensemble_paths_are_checked_before_work(tmp_path):
    assert paths_problem("") is None
    assert "at least two" in paths_problem(str(tmp_path / "a.pt"))
    (tmp_path / "a.pt").write_bytes(b"x")
    assert "no such file" in paths_problem(f"{tmp_path / 'a.pt'},{tmp_path / 'b.pt'}")
    with pytest.raises(UserError, match="at least two"):
        with_preset(train_ppo.Config, train_ppo.PRESETS, "test", ensemble=str(tmp_path / "a.pt"))


def test_the_bootstrap_keeps_whole_prompts():
    sys.path.insert(0, str(ROOT / "lessons" / "experiments"))
    import ensembles
    pairs = [(p, f"c{p}{i}", f"r{p}{i}") for p in "abcd" for i in range(3)]
    resampled = ensembles.bootstrap(pairs, seed=1)
    drawn = [x[0] for x in resampled]
    assert len(resampled) == len(pairs) and all(drawn.count(p) % 3 == 0 for p in "abcd")   # 4 prompts, 3 pairs each
    assert resampled != pairs and ensembles.bootstrap(pairs, seed=1) == resampled


@pytest.mark.requires_solutions
def test_the_experiment_runs_on_a_tiny_chain(rm_chain_dir, tmp_path):
    """ensembles.py --quick: three members trained on resamples, PPO on each arm; the ensemble arms really read the
    members (their RM scores differ from the single RM's run)."""
    sys.path.insert(0, str(ROOT / "lessons" / "experiments"))
    import ensembles
    out_dir = tmp_path / "chain"
    out_dir.mkdir()
    for f in ("sft.pt", "rm.pt", "preferences.jsonl", "preferences.meta.json"):
        shutil.copyfile(rm_chain_dir / f, out_dir / f)
    args = ensembles.parse(["--quick", "--out-dir", str(out_dir), "--work-dir", str(tmp_path / "work"),
                            "--seeds", "0", "--aggregates", "mean", "min", "lcb", "--leash"])
    out = ensembles.main(args)
    assert set(out["arms"]) == set(out["default_beta"]) == {"single", "mean", "min", "lcb"}
    first = {arm: out["arms"][arm]["0"]["curve"] for arm in out["arms"]}
    assert first["single"] != first["min"]
    assert (tmp_path / "work" / "ensembles.png").stat().st_size > 1000
