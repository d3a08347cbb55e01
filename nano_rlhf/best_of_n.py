"""Best-of-n sampling: draw n responses from the SFT policy and keep the one the reward model scores highest.

    python -m nano_rlhf.best_of_n --n 16        # after train_sft.py and train_rm.py: writes out/bon_summary.json
    python -m nano_rlhf.best_of_n --n 64 --eval-samples 200
    python -m nano_rlhf.best_of_n --preset test # seconds, for tests

No training: the RM is used at inference time as a filter (also called rejection sampling). It is the simplest way
to spend an RM, and the baseline RL is measured against (Stiennon et al. 2020; Gao et al. 2022). A response that
never emits EOS gets PPO's fixed penalty (-2.0) instead of its RM score, so it only wins when all n lack an EOS.

How far best-of-n moves from SFT has a closed form. Rank the responses by reward: the quantile u = F(R(y)) of
an SFT sample is uniform on [0, 1], and the best of n has u ~ max of n uniforms, with density n u^(n-1). So

    KL(best-of-n || SFT) = E[log n u^(n-1)] = log n + (n - 1) * E[log u] = log n - (n - 1) / n

(Gao et al. 2022). It holds when no two responses tie in reward. Repeated responses (common in this tiny world)
tie, and then the true KL is lower: the formula is an upper bound (Beirami et al. 2024). tests/test_best_of_n.py
checks both against an exact computation on a small categorical distribution.
"""
import math
import sys
from dataclasses import dataclass

import numpy as np
import torch

from nano_rlhf.checkpoint import build_policy, build_value_model, load_sft_and_rm, load_tokenizer
from nano_rlhf.common import Timer, device_problem, field, parse_config, run_cli, setup_run
from nano_rlhf.evaluate import (format_component_changes, gold_report, gold_scores, sample_policy, score_samples,
                                win_rate)
from nano_rlhf.files import write_json
from nano_rlhf.stats import clustered_mean_se
from nano_rlhf.world import LABELER_TEMPERATURE, World, eval_seed


def kl_best_of_n(n: int) -> float:
    """KL(best-of-n || base policy) in nats when rewards never tie: log n - (n - 1) / n."""
    return math.log(n) - (n - 1) / n


# [lesson:best_of_n]
def select_best(scores, n: int):
    """Index of the highest-scoring sample in each group of n consecutive ones (the first on ties).

    scores (P * n,) for P prompts with n samples each, grouped by prompt -> indices (P,) into the flat list.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1, n)              # (P, n)
    return s.argmax(1) + n * np.arange(s.shape[0])


def best_of_n(policy, tok, prompts, n: int, score_fn, *, max_new_tokens: int, temperature: float = 1.0,
              device="cpu", seed: int = 0, autocast=None):
    """n samples per prompt from `policy`, scored by score_fn(samples) -> list of floats; keep each prompt's best.

    Returns (best samples (P,), their scores (P,), all samples (P * n,), all scores (P * n,)).
    """
    kw = {} if autocast is None else {"autocast": autocast}
    samples = sample_policy(policy, tok, [p for p in prompts for _ in range(n)], max_new_tokens=max_new_tokens,
                            temperature=temperature, device=device, seed=seed, **kw)
    scores = np.asarray(score_fn(samples), dtype=np.float64)
    best = select_best(scores, n)
    return [samples[i] for i in best], scores[best], samples, scores
# [/lesson:best_of_n]


def rm_scorer(rm, reward_norm: dict, tok, no_eos_penalty: float, device="cpu", autocast=None):
    """score_fn for best_of_n: the normalised RM score, or the no-EOS penalty for a response without EOS."""
    kw = {} if autocast is None else {"autocast": autocast}

    def score(samples):
        s = np.array(score_samples(rm, tok, samples, device=device, **reward_norm, **kw))
        return np.where([x.ended for x in samples], s, no_eos_penalty)
    return score


def expected_best_of_n(values, scores, n: int):
    """Expected `values` of the sample best-of-n picks, from N >= n samples per prompt: the average over all
    n-subsets of the N samples, without enumerating them. values, scores (P, N) -> (P,)

    Sorted by score, the i-th lowest (i = 1..N) is the best of a random n-subset with probability
    C(i - 1, n - 1) / C(N, n): the other n - 1 members come from the i - 1 samples below it. One draw of N = 64
    samples per prompt thus gives the whole best-of-n curve for n = 1..64, with less noise than separate draws.
    """
    values, scores = np.asarray(values, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    N = scores.shape[1]
    if not 1 <= n <= N:
        raise ValueError(f"n = {n} needs 1 <= n <= N = {N}")
    w = np.array([math.comb(i - 1, n - 1) / math.comb(N, n) for i in range(1, N + 1)])   # sums to 1
    order = np.argsort(scores, axis=1, kind="stable")
    return (np.take_along_axis(values, order, axis=1) * w).sum(1)


def curve(samples, scores, golds, N: int, ns) -> list[dict]:
    """Best-of-n gold and RM score for each n in ns, from N samples per prompt (grouped by prompt)."""
    g, s = np.asarray(golds).reshape(-1, N), np.asarray(scores).reshape(-1, N)
    ended = np.array([x.ended for x in samples], dtype=np.float64).reshape(-1, N)
    prompts = [x.prompt for x in samples[::N]]              # the prompt of each row
    rows = []
    for n in ns:
        gold, se = clustered_mean_se(expected_best_of_n(g, s, n), prompts)   # per prompt draw; SE by prompt
        rows.append({"n": n, "kl": kl_best_of_n(n), "gold": gold, "gold_se": se,
                     "rm": float(expected_best_of_n(s, s, n).mean()),
                     "eos_rate": float(expected_best_of_n(ended, s, n).mean())})
    return rows


# ----------------------------------------------------------------------------------------------------------------
# Command line: best-of-n on the held-out prompts, reported like train_ppo.py


@dataclass
class Config:
    preset: str = field("default", "default (laptop CPU) or test (seconds)")
    out_dir: str = field("out", "folder holding sft.pt and rm.pt; bon_summary.json goes here", path="out_dir")
    n: int = field(16, "samples per prompt; the RM keeps the best", ge=1, le=4096)
    seed: int = field(0, "random seed", ge=0, lt=2**32)
    device: str = field("auto", "auto (cuda if available, else cpu), cpu, cuda, ...", check=device_problem)
    threads: int = field(2, "CPU intra-op threads (0: torch's default), at most the machine's cores; 1 can be "
                            "faster on a 2-core machine that other programs keep busy", ge=0, le=1024)
    eval_split: str = field("test", "held-out prompts: test (reported numbers) or dev (for choices)",
                            choices=["dev", "test"])
    eval_samples: int = field(480, "held-out prompts (cycled) to answer, as train_ppo.py's eval_samples", ge=1,
                              le=10**6)
    temperature: float = field(1.0, "sampling temperature (plain sampling, full softmax)", ge=0.01, le=100)
    max_new_tokens: int = field(0, "longest response (0: the SFT run's setting)", ge=0, le=65536)
    no_eos_penalty: float = field(-2.0, "score of a response without EOS (PPO's penalty): it never wins", ge=-1000,
                                  le=1000)


PRESETS = {"default": {}, "test": dict(threads=1, n=4, eval_samples=16)}
# the files a run writes into --out-dir (checked before any work: none may be a folder)
OUTPUTS = ("bon_summary.json",)


def main(cfg: Config) -> dict:
    timer = Timer()
    device, autocast = setup_run(cfg, OUTPUTS)   # checks every flag and output first (one line, exit code 2)
    sft, rm_ckpt = load_sft_and_rm(cfg.out_dir)
    tok = load_tokenizer(sft)
    world = World(sft["config"]["world_seed"])
    max_new = cfg.max_new_tokens or sft["config"]["max_new_tokens"]
    policy = build_policy(sft, device).eval()
    rm = build_value_model(rm_ckpt, device).eval()
    score_fn = rm_scorer(rm, rm_ckpt["reward_norm"], tok, cfg.no_eos_penalty, device, autocast)
    split = world.split(cfg.eval_split)
    prompts = [split[i % len(split)].text for i in range(cfg.eval_samples)]

    with torch.inference_mode():
        # the same seed as train_ppo.py's report: the same SFT samples, so the SFT numbers match its summary
        sft_samples = sample_policy(policy, tok, prompts, max_new_tokens=max_new, temperature=cfg.temperature,
                                    device=device, seed=eval_seed(cfg.eval_split, cfg.seed + 10_000),
                                    autocast=autocast)
        sft_scores = score_fn(sft_samples)
        best, best_scores, samples, scores = best_of_n(policy, tok, prompts, cfg.n, score_fn,
                                                       max_new_tokens=max_new, temperature=cfg.temperature,
                                                       device=device, seed=eval_seed(cfg.eval_split, cfg.seed + 30_000),
                                                       autocast=autocast)
    rep_sft, rep = gold_report(world, sft_samples), gold_report(world, best)
    wr = win_rate(world, best, sft_samples, LABELER_TEMPERATURE)
    ns = [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k < cfg.n] + [cfg.n]
    rows = curve(samples, scores, [g.total for g in gold_scores(world, samples)], cfg.n, ns)
    summary = {
        "split": cfg.eval_split, "n_prompts": rep["n_prompts"], "n": cfg.n, "kl_analytic": kl_best_of_n(cfg.n),
        "gold_reward_sft": rep_sft["gold_reward"], "gold_reward_sft_se": rep_sft["gold_reward_se"],
        "gold_reward_bon": rep["gold_reward"], "gold_reward_bon_se": rep["gold_reward_se"],
        "gold_reward_best": world.gold_reward_best(prompts),
        "gold_components_sft": rep_sft["gold_components"], "gold_components_bon": rep["gold_components"],
        "gold_gain": wr["gold_diff"], "gold_gain_se": wr["gold_diff_se"],   # best-of-n - SFT, paired by prompt
        "win_rate_vs_sft": wr["win_rate"], "win_rate_vs_sft_se": wr["win_rate_se"],
        "soft_win_rate_vs_sft": wr["soft_win_rate"], "soft_win_rate_vs_sft_se": wr["soft_win_rate_se"],
        "rm_reward_sft": float(np.mean(sft_scores)), "rm_reward_bon": float(np.mean(best_scores)),
        "eos_rate_bon": rep["eos_rate"], "n_eval": len(prompts), "n_sampled": len(samples),
        "curve": rows,   # best-of-k for k <= n, estimated from the same samples (expected_best_of_n)
    }
    print(f"best-of-{cfg.n} on {len(prompts)} prompts of the {cfg.eval_split} split (± are SEs clustered by prompt) ({len(samples)} SFT samples scored by the RM):")
    print(f"{'n':>5} {'KL (analytic)':>14} {'gold':>15} {'RM':>7} {'EOS':>6}")
    for r in rows:
        print(f"{r['n']:>5} {r['kl']:>14.3f} {r['gold']:>+8.3f} ± {r['gold_se']:.3f} {r['rm']:>+7.3f} "
              f"{r['eos_rate']:>6.3f}")
    comps = format_component_changes(summary["gold_components_sft"], summary["gold_components_bon"])
    print(f"\ngold {summary['gold_reward_sft']:+.3f} -> {summary['gold_reward_bon']:+.3f} ± "
          f"{summary['gold_reward_bon_se']:.3f} (best {summary['gold_reward_best']:+.3f}) | KL "
          f"{summary['kl_analytic']:.3f} nats (analytic) | win rate vs SFT {wr['win_rate']:.3f} ± "
          f"{wr['win_rate_se']:.3f} (n={wr['n']}) | RM {summary['rm_reward_sft']:+.3f} -> "
          f"{summary['rm_reward_bon']:+.3f}\ncomponents: {comps}")
    summary["wall_seconds"] = timer()
    write_json(f"{cfg.out_dir}/bon_summary.json", summary)
    print(f"wrote {cfg.out_dir}/bon_summary.json in {summary['wall_seconds']:.0f}s")
    return summary


if __name__ == "__main__":
    run_cli(main, parse_config(Config, PRESETS, sys.argv[1:]))
