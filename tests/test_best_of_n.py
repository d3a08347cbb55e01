"""Best-of-n: the RM's argmax is kept, the no-EOS penalty, the KL formula against exact categorical computations,
the subset estimator against brute force, and the command line on the test chain."""
import itertools
import json
import math
import sys

import numpy as np
import pytest
import torch

from nano_rlhf import best_of_n as bon
from nano_rlhf.checkpoint import load_checkpoint
from nano_rlhf.common import UserError, with_preset
from nano_rlhf.coursework import ROOT
from nano_rlhf.evaluate import Sample
from nano_rlhf.model import GPT, GPTConfig, ValueModel
from nano_rlhf.tokenizer import train_bpe


def test_select_best_returns_each_groups_argmax_first_on_ties():
    scores = [0.1, 0.9, 0.3, -1.0, -2.0, -1.0, 5.0, 5.0, 0.0]         # 3 prompts x n = 3
    assert bon.select_best(scores, 3).tolist() == [1, 3, 6]


def test_best_of_n_keeps_the_argmax_of_the_score_function():
    torch.manual_seed(0)
    tok = train_bpe(["User: hi\nAssistant: hello there. bye now."] * 4, vocab_size=270)
    policy = GPT(GPTConfig(block_size=32, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16)).eval()
    stub = lambda samples: [len(s.response) + 0.01 * i for i, s in enumerate(samples)]  # noqa: E731  (no ties)
    prompts = ["User: hi\nAssistant:", "User: bye\nAssistant:"]
    best, best_scores, samples, scores = bon.best_of_n(policy, tok, prompts, 5, stub, max_new_tokens=8, seed=1)
    assert len(samples) == 10 and [s.prompt for s in samples] == [p for p in prompts for _ in range(5)]
    for i, p in enumerate(prompts):
        group = list(range(5 * i, 5 * i + 5))
        j = max(group, key=lambda k: scores[k])
        assert best[i] is samples[j] and best_scores[i] == scores[j] == max(stub(samples)[k] for k in group)


def test_a_response_without_eos_gets_the_penalty_and_loses():
    torch.manual_seed(0)
    tok = train_bpe(["User: hi\nAssistant: hello there."] * 4, vocab_size=270)
    rm = ValueModel(GPTConfig(block_size=32, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16)).eval()
    score = bon.rm_scorer(rm, {"gain": 1.0, "bias": 100.0}, tok, no_eos_penalty=-2.0)   # every RM score near +100
    p = "User: hi\nAssistant:"
    unended = Sample(p, " hello", tok.encode(" hello"), False)
    ended = Sample(p, " hi", tok.encode(" hi") + [tok.eos_id], True)
    s = score([unended, ended, unended])
    assert s[0] == s[2] == -2.0 and s[1] > 50
    assert bon.select_best(s, 3).tolist() == [1]


def best_of_n_exact(p, n):
    """The exact best-of-n distribution of a categorical p whose outcomes are listed in increasing reward order:
    p'_i = F(i)^n - F(i-1)^n, F the CDF in that order."""
    F = np.cumsum(p)
    return F ** n - np.concatenate([[0.0], F[:-1]]) ** n


def kl(q, p):
    m = q > 0
    return float((q[m] * np.log(q[m] / p[m])).sum())


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 64])
def test_kl_formula_is_the_no_ties_limit_of_the_exact_categorical_kl(n):
    # K equally likely outcomes with distinct rewards: the exact KL approaches log n - (n-1)/n as K grows (its
    # error falls like 1/K^2: 1.7e-4 at K = 1000 and n = 64). Tolerance 1e-3.
    p = np.full(1000, 1e-3)
    assert abs(kl(best_of_n_exact(p, n), p) - bon.kl_best_of_n(n)) < 1e-3
    # also for an uneven distribution, as long as no outcome is likely (every p_i <= 0.002 here)
    p = np.random.default_rng(n).uniform(0.5, 1.5, 2000)
    p /= p.sum()
    assert abs(kl(best_of_n_exact(p, n), p) - bon.kl_best_of_n(n)) < 1e-3


def test_sampled_best_of_n_matches_the_exact_distribution_and_kl():
    rng = np.random.default_rng(0)
    K, n, draws = 12, 4, 200_000
    p = rng.dirichlet(np.ones(K))
    reward = rng.permutation(K).astype(float)            # distinct rewards, in a random order of the outcomes
    x = rng.choice(K, size=(draws, n), p=p)              # n samples per draw
    picked = x[np.arange(draws), reward[x].argmax(1)]    # the best of each draw
    exact = np.zeros(K)
    order = np.argsort(reward)
    exact[order] = best_of_n_exact(p[order], n)
    freq = np.bincount(picked, minlength=K) / draws
    assert np.abs(freq - exact).max() < 4 * np.sqrt(exact.max() / draws) + 1e-4
    # the sampled KL estimate: mean of log p'(x) / p(x) over best-of-n samples x, against the exact sum
    est = np.log(exact[picked] / p[picked])
    assert abs(est.mean() - kl(exact, p)) < 4 * est.std() / np.sqrt(draws)
    # with a dozen outcomes, some likely, the formula overstates the KL: it is an upper bound when rewards tie
    # (identical responses) or outcomes are coarse
    assert kl(exact, p) < bon.kl_best_of_n(n)


def test_expected_best_of_n_equals_the_average_over_all_subsets():
    rng = np.random.default_rng(0)
    N = 7
    scores, values = rng.normal(size=(3, N)), rng.normal(size=(3, N))
    for n in range(1, N + 1):
        got = bon.expected_best_of_n(values, scores, n)
        for row in range(3):
            subsets = list(itertools.combinations(range(N), n))
            brute = np.mean([values[row, max(s, key=lambda i: scores[row, i])] for s in subsets])
            assert abs(got[row] - brute) < 1e-12
    assert np.allclose(bon.expected_best_of_n(values, scores, 1), values.mean(1))
    with pytest.raises(ValueError):
        bon.expected_best_of_n(values, scores, N + 1)


def test_missing_checkpoints_are_one_line_errors(tmp_path, chain_dir):
    cfg = with_preset(bon.Config, bon.PRESETS, "test", out_dir=str(tmp_path))
    with pytest.raises(UserError, match=r"sft\.pt not found: run `python train_sft.py` first"):
        bon.main(cfg)
    (tmp_path / "sft.pt").write_bytes((chain_dir / "sft.pt").read_bytes())
    with pytest.raises(UserError, match=r"rm\.pt not found: run `python train_rm.py` first"):
        bon.main(cfg)


@pytest.mark.requires_solutions
def test_command_line_on_the_test_chain(ppo_chain_dir):
    s = bon.main(with_preset(bon.Config, bon.PRESETS, "test", out_dir=str(ppo_chain_dir)))
    assert json.loads((ppo_chain_dir / "bon_summary.json").read_text())["n"] == s["n"] == 4
    for key in ("gold_reward_sft", "gold_reward_bon", "gold_reward_bon_se", "gold_components_bon",
                "win_rate_vs_sft", "soft_win_rate_vs_sft", "kl_analytic", "rm_reward_bon", "wall_seconds"):
        assert key in s, key
    assert s["kl_analytic"] == pytest.approx(math.log(4) - 3 / 4)
    assert s["rm_reward_bon"] >= s["curve"][0]["rm"]             # the best of 4 scores above a single sample
    assert [r["n"] for r in s["curve"]] == [1, 2, 4]
    # the same held-out prompts, seed and temperature as train_ppo.py's report: the same SFT samples
    ppo = json.loads((ppo_chain_dir / "ppo_summary.json").read_text())
    assert s["gold_reward_sft"] == pytest.approx(ppo["gold_reward_sft"])
    assert load_checkpoint(str(ppo_chain_dir / "rm.pt"), "rm")          # untouched


# ----------------------------------------------------------------------------------------------------------------
# lessons/experiments/: their --quick path on the test chain (tiny runs), and their one-line errors

def experiments():
    path = str(ROOT / "lessons" / "experiments")
    if path not in sys.path:
        sys.path.insert(0, path)
    import frontier
    import overoptimisation
    return frontier, overoptimisation


def test_experiments_need_sft_and_rm(tmp_path, chain_dir):
    frontier, overoptimisation = experiments()
    for mod, name in ((frontier, "frontier"), (overoptimisation, "overoptimisation")):
        args = frontier.parse_args(["--out-dir", str(tmp_path)], mod.__doc__, name)
        assert args.work_dir == f"{tmp_path}/experiments" and args.png.endswith(f"lessons/experiments/{name}.png")
        with pytest.raises(UserError, match=r"sft\.pt not found: run `python train_sft.py` and then `python "
                                            r"train_rm.py` first"):
            mod.main(args)
    (tmp_path / "sft.pt").write_bytes((chain_dir / "sft.pt").read_bytes())
    with pytest.raises(UserError, match=r"rm\.pt not found: run `python train_rm.py` first"):
        frontier.main(frontier.parse_args(["--out-dir", str(tmp_path)], frontier.__doc__, "frontier"))


@pytest.mark.requires_solutions
def test_experiments_quick_paths_run_end_to_end_and_share_their_runs(rm_chain_dir, tmp_path, capsys):
    frontier, overoptimisation = experiments()
    argv = ["--quick", "--out-dir", str(rm_chain_dir), "--work-dir", str(tmp_path)]
    f = frontier.main(frontier.parse_args(argv, frontier.__doc__, "frontier"))
    assert [r["policy"] for r in f["rows"]][:4] == ["SFT", "best-of-2", "best-of-4", "best-of-8"]
    assert all(math.isfinite(r[k]) for r in f["rows"] for k in ("kl", "gold", "gold_se", "rm"))
    assert len(f["ppo"]) == 3 and len(f["dpo"]) == 2 and len(f["grpo"]) == 1 and f["split"] == "test"
    # the two remedies (lesson 6) at beta 0 and the default, each on its own reward: other curves than plain PPO's
    assert len(f["ppo_ensemble"]) == len(f["ppo_iterated"]) == 2
    curves = [[(h["kl"], h["gold"]) for h in runs[0.0]["history"]] for runs in (f["ppo"], f["ppo_ensemble"],
                                                                                 f["ppo_iterated"])]
    assert curves[0] != curves[1] and curves[0] != curves[2] and curves[1] != curves[2]
    capsys.readouterr()
    o = overoptimisation.main(overoptimisation.parse_args(argv, overoptimisation.__doc__, "overoptimisation"))
    out = capsys.readouterr().out
    assert "training" not in out                 # best-of-n, both PPO runs and the remedies' runs: all reused
    assert set(o["series"]) == {"best-of-n", "PPO beta=0.0", "PPO beta=0.1", "PPO, ensemble mean beta=0.0",
                                "PPO, iterated RM beta=0.0"}
    for name, fit in o["fits"].items():
        assert fit["form"] == ("bon" if name == "best-of-n" else "rl") and all(map(math.isfinite, fit["gold"][:2]))
    for png in ("frontier.png", "overoptimisation.png"):
        assert (tmp_path / png).stat().st_size > 1000
    assert json.loads((tmp_path / "overoptimisation.json").read_text())["fits"] == json.loads(json.dumps(o["fits"]))


def test_gao_fits_recover_known_coefficients():
    _, overoptimisation = experiments()
    d = np.linspace(0.1, 3, 12)
    for form, (a, b) in (("bon", (0.9, 0.2)), ("rl", (0.5, 0.3))):
        alpha, beta, r2 = overoptimisation.fit(d, overoptimisation.curve_fn(form, a, b)(d), form)
        assert abs(alpha - a) < 1e-9 and abs(beta - b) < 1e-9 and r2 > 0.999
