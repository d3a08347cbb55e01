"""Sampling a policy and scoring it with the tiny world's simulated human (for reporting only: gold isolation)."""
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from nano_rlhf.common import UserError
from nano_rlhf.data import left_pad
from nano_rlhf.judge import ai_preference
from nano_rlhf.model import GPT, generate
from nano_rlhf.stats import clustered_mean_se, mean_se
from nano_rlhf.tokenizer import Tokenizer
from nano_rlhf.world import World


@dataclass
class Sample:
    prompt: str
    response: str       # decoded text, without the EOS
    tokens: list        # response token ids, EOS included when it ended
    ended: bool         # emitted EOS within the length limit


@torch.no_grad()
def sample_policy(model: GPT, tok: Tokenizer, prompts: list[str], *, max_new_tokens: int, temperature: float = 1.0,
                  batch_size: int = 256, device="cpu", seed: int = 0, autocast=nullcontext,
                  top_k: int | None = None) -> list[Sample]:
    """One sample per prompt (repeat prompts for more), in batches, plain sampling from the full softmax."""
    longest = max((len(tok.encode(p)) for p in set(prompts)), default=0)
    if longest >= model.cfg.block_size:
        raise UserError(f"a prompt of {longest} tokens leaves no room to answer in the model's block of "
                        f"{model.cfg.block_size} tokens: train it with a larger --block-size")
    was_training = model.training
    model.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    out = []
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i:i + batch_size]
        idx, mask = left_pad([tok.encode(p) for p in chunk], tok.pad_id, device)
        with autocast():
            g = generate(model, idx, mask, max_new_tokens, tok.eos_id, tok.pad_id, temperature=temperature,
                         top_k=top_k, generator=gen)
        for j, p in enumerate(chunk):
            toks = g.tokens[j, :int(g.mask[j].sum())].tolist()
            out.append(Sample(p, tok.decode(toks), toks, bool(g.ended[j])))
    model.train(was_training)
    return out


def gold_scores(world: World, samples: list[Sample]):
    """The simulated human's score of each sample -> list of GoldScore."""
    return [world.gold_reward(s.prompt, s.response, ended=s.ended) for s in samples]


def gold_report(world: World, samples: list[Sample]) -> dict:
    """Mean gold reward with its standard error clustered by prompt (stats.clustered_mean_se: several samples of
    one prompt are not independent draws), the mean of each component, EOS rate, n samples over n_prompts."""
    scores = gold_scores(world, samples)
    prompts = [s.prompt for s in samples]
    mean, se = clustered_mean_se([s.total for s in scores], prompts)
    comps = {k: mean_se([s.components[k] for s in scores])[0] for k in scores[0].components}
    eos = mean_se([float(s.ended) for s in samples])
    return {"gold_reward": mean, "gold_reward_se": se, "gold_reward_se_iid": mean_se([s.total for s in scores])[1],
            "gold_components": comps, "eos_rate": eos[0], "n": len(samples), "n_prompts": len(set(prompts))}


def gold_by_kind(world: World, samples: list[Sample]) -> dict:
    """{kind: {"gold": mean total, component: mean, ..., "n": samples}} for each kind of question (colour, sound,
    sum): where a method helps, e.g. `honest` on the sums (reporting only: it reads the world's facts)."""
    out = {}
    for s, g in zip(samples, gold_scores(world, samples)):
        row = out.setdefault(world.fact_of(s.prompt).kind, {"gold": [], **{k: [] for k in g.components}})
        row["gold"].append(g.total)
        for k, v in g.components.items():
            row[k].append(v)
    return {kind: {**{k: float(np.mean(v)) for k, v in row.items()}, "n": len(row["gold"])}
            for kind, row in sorted(out.items())}


def win_rate(world: World, ours: list[Sample], theirs: list[Sample], tau: float) -> dict:
    """Gold-judged win rate of `ours` against `theirs`, paired by prompt (ties count half), with SEs clustered by
    prompt (each sample is compared with one sample of the other policy on the same prompt).

    Also the soft win rate mean sigmoid((g_ours - g_theirs) / tau): the probability that the simulated labeler
    (Bradley-Terry noise, temperature tau) prefers ours, averaged.
    """
    assert [s.prompt for s in ours] == [s.prompt for s in theirs], "samples must be paired by prompt"  # internal
    g1 = np.array([s.total for s in gold_scores(world, ours)])
    g2 = np.array([s.total for s in gold_scores(world, theirs)])
    wins = (g1 > g2) + 0.5 * (g1 == g2)
    soft = 1.0 / (1.0 + np.exp(-(g1 - g2) / tau))
    prompts = [s.prompt for s in ours]
    w, w_se = clustered_mean_se(wins, prompts)
    s, s_se = clustered_mean_se(soft, prompts)
    d, d_se = clustered_mean_se(g1 - g2, prompts)   # the paired gold difference, ours - theirs
    return {"win_rate": w, "win_rate_se": w_se, "soft_win_rate": s, "soft_win_rate_se": s_se,
            "gold_diff": d, "gold_diff_se": d_se, "n": len(g1)}


def format_component_changes(before: dict, after: dict) -> str:
    """'honest +0.20 -> +0.62, harmless ...': how each gold component moved."""
    return ", ".join(f"{k} {before[k]:+.2f} -> {v:+.2f}" for k, v in after.items())


def format_side_by_side(world: World, rows: list[tuple[str, Sample, Sample]], names=("SFT", "PPO")) -> str:
    """A small text table: prompt, then each policy's answer with its gold score."""
    lines = []
    for prompt, a, b in rows:
        lines.append(prompt.replace("\n", " "))
        for name, s in zip(names, (a, b)):
            g = world.gold_reward(s.prompt, s.response, ended=s.ended).total
            lines.append(f"  {name:>4} [{g:+.2f}]{s.response}{'' if s.ended else ' …(no EOS)'}")
    return "\n".join(lines)


def _ranks(x):
    """Ranks 0..n-1 with ties given their average rank (as Spearman's rho needs)."""
    _, which, counts = np.unique(np.asarray(x, dtype=np.float64), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)                 # each distinct value holds ranks ends - counts .. ends - 1
    return (ends - (counts + 1) / 2)[which]  # their average


def correlations(a, b) -> dict:
    """Pearson and Spearman correlation of two equally long lists (NaN when either is constant or not finite)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()) or a.std() == 0 or b.std() == 0:
        return {"pearson": float("nan"), "spearman": float("nan"), "n": len(a)}
    return {"pearson": float(np.corrcoef(a, b)[0, 1]),
            "spearman": float(np.corrcoef(_ranks(a), _ranks(b))[0, 1]), "n": len(a)}


@torch.no_grad()
def score_samples(rm, tok: Tokenizer, samples: list[Sample], *, gain: float = 1.0, bias: float = 0.0,
                  batch_size: int = 256, device="cpu", autocast=nullcontext) -> list[float]:
    """Reward-model score of each (prompt, response) at its last real token, normalised as gain * r + bias."""
    from nano_rlhf.data import right_pad
    from nano_rlhf.model import last_token_values
    out = []
    for i in range(0, len(samples), batch_size):
        chunk = samples[i:i + batch_size]
        idx, mask = right_pad([tok.encode(s.prompt) + s.tokens for s in chunk], tok.pad_id, device)
        with autocast():   # right padding: causal attention already keeps real tokens from seeing the pads
            values = rm(idx)
        out += (gain * last_token_values(values, mask) + bias).tolist()
    return out


def kl_per_token(logprobs, ref_logprobs):
    """Per-token KL estimators for samples from pi (Schulman 2020, "Approximating KL divergence").

    k1 = log pi - log pi_ref             unbiased, but a single sample can be negative
    k3 = (r - 1) - log r, r = pi_ref/pi  unbiased too, always >= 0, lower variance
    (B, T), (B, T) -> (B, T), (B, T)
    """
    log_ratio = logprobs - ref_logprobs
    return log_ratio, torch.expm1(-log_ratio) + log_ratio


@torch.no_grad()
def response_logprobs(model, tok: Tokenizer, samples: list[Sample], temperature: float, device="cpu",
                      autocast=nullcontext, batch_size: int = 256):
    """Per-token log-probs (at temperature T) of each sample's response under `model` -> list of 1-D tensors."""
    from nano_rlhf.data import left_pad, right_pad
    from nano_rlhf.model import response_logits, token_logprobs
    out = []
    for i in range(0, len(samples), batch_size):
        chunk = samples[i:i + batch_size]
        p_idx, p_mask = left_pad([tok.encode(s.prompt) for s in chunk], tok.pad_id, device)
        r_idx, r_mask = right_pad([s.tokens or [tok.pad_id] for s in chunk], tok.pad_id, device)
        seq, mask = torch.cat([p_idx, r_idx], 1), torch.cat([p_mask, r_mask], 1)
        with autocast():
            logits = response_logits(model, seq, mask, p_idx.size(1))
        lp = token_logprobs(logits, r_idx, temperature, pad_id=tok.pad_id)   # PAD is never sampled (generate)
        out += [lp[j, :len(s.tokens)].cpu() for j, s in enumerate(chunk)]
    return out


def policy_report(policy, ref, rm, reward_norm: dict, tok: Tokenizer, world: World, prompts: list[str], *,
                  temperature: float, max_new_tokens: int, no_eos_penalty: float, tau: float, seed: int,
                  sft_samples: list[Sample] | None = None, device="cpu", autocast=nullcontext) -> dict:
    """Everything PPO reports on held-out prompts: gold (+ components), RM score, KL to the reference, the RM-gold
    correlation on the policy's own samples, and the win rate against SFT samples of the same prompts. Without an
    RM (rm None: train_grpo.py --reward verifier with no rm.pt) the RM fields are NaN."""
    samples = sample_policy(policy, tok, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                            device=device, seed=seed, autocast=autocast)
    rep = gold_report(world, samples)
    rm_scores = (np.full(len(samples), np.nan) if rm is None else
                 np.array(score_samples(rm, tok, samples, device=device, autocast=autocast, **reward_norm)))
    ended = np.array([s.ended for s in samples])
    rm_scores = np.where(ended, rm_scores, no_eos_penalty) if rm is not None else rm_scores
    lp = response_logprobs(policy, tok, samples, temperature, device, autocast)
    ref_lp = response_logprobs(ref, tok, samples, temperature, device, autocast)
    k1 = [float(kl_per_token(a, b)[0].sum()) for a, b in zip(lp, ref_lp)]
    k3 = [float(kl_per_token(a, b)[1].sum()) for a, b in zip(lp, ref_lp)]
    golds = np.array([s.total for s in gold_scores(world, samples)])
    prompts = [s.prompt for s in samples]
    rep.update({
        "rm_reward": float(rm_scores.mean()), "rm_reward_se": clustered_mean_se(rm_scores, prompts)[1],
        "kl": float(np.mean(k1)), "kl_se": clustered_mean_se(k1, prompts)[1], "kl_k3": float(np.mean(k3)),
        "rm_gold_correlation": correlations(rm_scores[ended], golds[ended]),
        "response_length": float(np.mean([len(s.tokens) for s in samples])),
    })
    if sft_samples is not None:
        rep.update(win_rate(world, samples, sft_samples, tau))
    rep["samples"] = samples
    return rep


def ai_label_agreement(world, judge, pairs) -> dict:
    """For the report (gold allowed): the AI labeler's (nano_rlhf/judge.py) labels of human-labelled (prompt,
    chosen, rejected) pairs, their agreement with the human's labels and with the noiseless gold order (gold ties
    left out), SEs by prompt; the same per kind; and per gold component c, on the pairs whose gold differs in c
    alone, agreement with the sign of that difference (where the judge is right and where it is blind)."""
    prompts = [p for p, _, _ in pairs]
    z_c, z_r = judge.logits(prompts, [c for _, c, _ in pairs]), judge.logits(prompts, [r for _, _, r in pairs])
    first = (ai_preference(z_c, z_r, judge.weights) >= 0.5).numpy()      # the judge prefers the human's choice
    with_human = first.astype(float)
    scores = [[world.gold_reward(p, t) for t in (c, r)] for p, c, r in pairs]
    gold = np.array([[s.total for s in row] for row in scores])
    with_gold = np.where(gold[:, 0] != gold[:, 1], with_human == (gold[:, 0] > gold[:, 1]), np.nan)
    kinds, prompts = np.array([world.fact_of(p).kind for p in prompts]), np.array(prompts)
    out = {}
    groups = [("all", np.ones(len(prompts), bool))] + [(str(k), kinds == k) for k in sorted(set(kinds))]
    for name, rows in groups:
        strict = rows & ~np.isnan(with_gold)
        vh, seh = clustered_mean_se(with_human[rows], list(prompts[rows]))
        vg, seg = clustered_mean_se(with_gold[strict], list(prompts[strict]))
        out[name] = {"vs_human": vh, "vs_human_se": seh, "vs_gold": vg, "vs_gold_se": seg, "n": int(rows.sum())}
    names = list(scores[0][0].components) if scores else []
    diff = np.array([[a.components[c] - b.components[c] for c in names] for a, b in scores]).reshape(-1, len(names))
    by_component = {}
    for j, c in enumerate(names):
        alone = (np.abs(diff[:, j]) > 1e-9) & (np.abs(np.delete(diff, j, axis=1)) <= 1e-9).all(axis=1)
        if alone.any():
            agree = (first[alone] == (diff[alone, j] > 0)).astype(float)
            m, se = clustered_mean_se(agree, list(prompts[alone]))
            by_component[c] = {"vs_gold": m, "vs_gold_se": se, "n": int(alone.sum())}
    return {**out.pop("all"), "by_kind": out, "by_component": by_component}
