"""The curriculum of train_ppo.py (--curriculum easy-first) and lessons/experiments/curriculum.py."""
import sys

import pytest
import torch

import train_ppo
from nano_rlhf import curriculum
from nano_rlhf.common import with_preset
from nano_rlhf.coursework import ROOT


def test_the_pool_grows_from_the_easiest_quarter_to_all_by_half_way():
    order = list(range(159, -1, -1))                     # 160 prompts, "easiest" first = highest index first
    sizes = {it: len(curriculum.curriculum_pool(order, it, 60)) for it in (0, 10, 15, 29, 30, 59)}
    assert sizes == {0: 40, 10: 80, 15: 100, 29: 156, 30: 160, 59: 160}    # 160 x (0.25 + 0.75 it / 30), rounded
    assert curriculum.curriculum_pool(order, 0, 60) == order[:40]           # a prefix of the order: easiest ones
    assert curriculum.curriculum_pool([7], 0, 1) == [7]                     # never empty


def test_easiest_first_sorts_prompts_by_the_mean_rm_score_of_their_sft_samples(monkeypatch):
    scores = {"a": [0.0, 0.0], "b": [2.0, -1.0], "c": [1.0, 1.0], "d": [0.5, 0.5]}   # means 0, 0.5, 1, 0.5
    monkeypatch.setattr(curriculum, "sample_policy", lambda ref, tok, prompts, **kw: prompts)
    it = iter([v for p in "abcd" for v in scores[p]])
    monkeypatch.setattr(curriculum, "score_samples", lambda rm, tok, samples, **kw: [next(it) for _ in samples])
    order = curriculum.easiest_first(None, None, {}, None, list("abcd"), 8, 0, "cpu", None, k=2)
    assert order == [2, 1, 3, 0]                         # c (1.0), then b and d (0.5, in their order), then a


@pytest.mark.requires_solutions
def test_easy_first_draws_only_from_the_pool(rm_chain_dir, tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    for f in ("sft.pt", "rm.pt"):
        (out / f).write_bytes((rm_chain_dir / f).read_bytes())
    pools = []
    real = train_ppo.curriculum_pool
    monkeypatch.setattr(train_ppo, "curriculum_pool", lambda *a: pools.append(real(*a)) or pools[-1])
    drawn = []
    real_pad = train_ppo.left_pad
    monkeypatch.setattr(train_ppo, "left_pad", lambda seqs, *a: drawn.append([tuple(s) for s in seqs])
                        or real_pad(seqs, *a))
    s = train_ppo.main(with_preset(train_ppo.Config, train_ppo.PRESETS, "test", out_dir=str(out),
                                   curriculum="easy-first"))
    assert len(pools) == 3 and len(pools[0]) < len(pools[-1]) and torch.isfinite(torch.tensor(s["kl"]))
    assert "sum" in s["gold_by_kind_sft"] or s["gold_by_kind_ppo"]          # the per-kind report is there
    from nano_rlhf.checkpoint import load_tokenizer
    tok = load_tokenizer(torch.load(out / "sft.pt", weights_only=True))
    from nano_rlhf.world import World
    ids = [tuple(tok.encode(p.text)) for p in World(0).train_prompts]
    allowed = {ids[i] for i in pools[0]}
    assert set(drawn[0]) <= allowed                      # iteration 0's rollout: easiest quarter only


@pytest.mark.requires_solutions
def test_the_experiment_runs_on_a_tiny_chain(rm_chain_dir, tmp_path):
    sys.path.insert(0, str(ROOT / "lessons" / "experiments"))
    import curriculum
    args = curriculum.parse_args(["--quick", "--out-dir", str(rm_chain_dir), "--work-dir", str(tmp_path),
                                  "--seeds", "0"], curriculum.__doc__, "curriculum", curriculum.seeds_flag)
    out = curriculum.main(args)
    assert set(out["arms"]) == {"uniform", "easy-first"} and out["seeds"] == [0]
    assert "no detectable" in out["claim"]["text"] or "beats" in out["claim"]["text"]
    assert (tmp_path / "curriculum.png").stat().st_size > 1000 and (tmp_path / "curriculum.json").exists()
