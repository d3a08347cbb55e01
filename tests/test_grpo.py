"""Critic-free RL (train_grpo.py) and the rule-based verifier: every formula against an independent computation
(explicit loops, hand values, closed forms), and the script end to end."""
import ast
import copy
import json
import math
import random
import shutil
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch

import train_grpo
import train_ppo
from nano_rlhf import verifier
from nano_rlhf.checkpoint import load_checkpoint
from nano_rlhf.common import UserError, make_optimizer, with_preset
from nano_rlhf.evaluate import kl_per_token
from nano_rlhf.model import GPT, GPTConfig, response_logits, token_logprobs
from nano_rlhf.verifier import expected_answer, is_sum, pass_at_k, verify
from nano_rlhf.world import World

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------------------------------------------
# Group advantages: one explicit loop over the groups per estimator

def loop_advantages(rewards: list[list[float]], how: str, eps: float) -> list[list[float]]:
    """The four baselines written out with Python loops, from their definitions."""
    everything = [r for group in rewards for r in group]
    batch_mean = sum(everything) / len(everything)
    out = []
    for group in rewards:
        G = len(group)
        mean = sum(group) / G
        std = math.sqrt(sum((r - mean) ** 2 for r in group) / (G - 1))      # the sample std (n - 1)
        row = []
        for i, r in enumerate(group):
            if how == "grpo":
                row.append((r - mean) / (std + eps))
            elif how == "drgrpo":
                row.append(r - mean)
            elif how == "rloo":
                others = [group[j] for j in range(G) if j != i]
                row.append(r - sum(others) / len(others))
            elif how == "reinforce":
                row.append(r - batch_mean)
        out.append(row)
    return out


def random_rewards(N, G, seed):
    rng = random.Random(seed)
    rows = [[rng.gauss(0, 1) for _ in range(G)] for _ in range(N)]
    rows[0] = [0.5] * G                                         # a flat group: no signal (except under reinforce)
    if N > 1:
        rows[1] = [float(rng.random() < 0.5) for _ in range(G - 1)] + [1.0]   # a verifier's 0/1 rewards
    return rows


@pytest.mark.exercise("group_advantages")
@pytest.mark.parametrize("how", ["grpo", "drgrpo", "rloo", "reinforce"])
@pytest.mark.parametrize("N, G", [(1, 2), (3, 4), (5, 8)])
def test_group_advantages_equal_an_explicit_loop_over_groups(how, N, G):
    rows = random_rewards(N, G, seed=N * 100 + G)
    eps = 1e-3
    got = train_grpo.group_advantages(torch.tensor(rows, dtype=torch.float64), how, eps)
    assert got.shape == (N, G)
    expect = loop_advantages(rows, how, eps)
    for g in range(N):
        for i in range(G):
            assert abs(float(got[g, i]) - expect[g][i]) < 1e-9, (how, g, i)
    if how != "reinforce":                                      # a group whose rewards are equal teaches nothing
        assert (got[0] == 0).all()


@pytest.mark.exercise("group_advantages")
def test_grpo_advantages_by_hand():
    # rewards 0, 0, 1, 1: mean 0.5, sample std sqrt(4 * 0.25 / 3) = 0.57735
    adv = train_grpo.group_advantages(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), "grpo", eps=0.0)
    assert torch.allclose(adv, torch.tensor([[-0.8660254, -0.8660254, 0.8660254, 0.8660254]]), atol=1e-6)
    # rloo of 1, 2, 6: 1 - 4, 2 - 3.5, 6 - 1.5
    adv = train_grpo.group_advantages(torch.tensor([[1.0, 2.0, 6.0]]), "rloo")
    assert torch.allclose(adv, torch.tensor([[-3.0, -1.5, 4.5]]))
    # reinforce: the baseline is the batch's mean (2.5), not the group's
    adv = train_grpo.group_advantages(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "reinforce")
    assert torch.allclose(adv, torch.tensor([[-1.5, -0.5], [0.5, 1.5]]))


@pytest.mark.exercise("group_advantages")
@pytest.mark.parametrize("G", [2, 3, 5, 16])
def test_rloo_is_drgrpo_scaled_by_g_over_g_minus_1(G):
    rewards = torch.randn(6, G, generator=torch.Generator().manual_seed(G), dtype=torch.float64)
    rloo = train_grpo.group_advantages(rewards, "rloo")
    drgrpo = train_grpo.group_advantages(rewards, "drgrpo")
    assert torch.allclose(rloo, G / (G - 1) * drgrpo, atol=1e-12)
    assert not torch.allclose(rloo, drgrpo, atol=1e-3)          # they are not the same numbers: the scale is there


# ----------------------------------------------------------------------------------------------------------------
# Loss aggregations: sum_it w_it * l_it against the definitions, over ragged responses

LENGTHS = [7, 1, 4, 3, 6]
T_WIDTH, MAX_NEW = 7, 9          # the rollout's widest response (7) is shorter than the limit (9)


def ragged_losses(seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.tensor([[1.0] * n + [0.0] * (T_WIDTH - n) for n in LENGTHS], dtype=torch.float64)
    losses = torch.randn(len(LENGTHS), T_WIDTH, generator=g, dtype=torch.float64)
    losses = torch.where(mask.bool(), losses, torch.full_like(losses, 1e6))   # pads hold garbage: weights ignore it
    return losses, mask


def defined(losses, how: str) -> float:
    """The three normalisers, from their definitions, with loops over responses and tokens."""
    n = len(LENGTHS)
    per_response = [sum(float(losses[i, t]) for t in range(LENGTHS[i])) for i in range(n)]
    if how == "token-mean":
        return sum(per_response) / sum(LENGTHS)
    if how == "seq-mean":
        return sum(per_response[i] / LENGTHS[i] for i in range(n)) / n
    if how == "constant":
        return sum(per_response) / (n * MAX_NEW)
    raise AssertionError(how)


@pytest.mark.exercise("loss_weights")
@pytest.mark.parametrize("how", ["token-mean", "seq-mean", "constant"])
def test_loss_weights_give_the_defined_averages_and_ignore_pads(how):
    for seed in range(3):
        losses, mask = ragged_losses(seed)
        w = train_grpo.loss_weights(mask, how, MAX_NEW)
        assert w.shape == mask.shape and (w[mask == 0] == 0).all() and (w >= 0).all()
        assert abs(float((w * losses).sum()) - defined(losses, how)) < 1e-9, how


@pytest.mark.exercise("loss_weights")
def test_loss_weights_by_hand():
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])       # lengths 4 and 1
    tm = train_grpo.loss_weights(mask, "token-mean", 8)
    sm = train_grpo.loss_weights(mask, "seq-mean", 8)
    co = train_grpo.loss_weights(mask, "constant", 8)
    assert torch.allclose(tm, mask / 5)                                       # every token counts 1/5
    assert torch.allclose(sm, torch.tensor([[1 / 8] * 4, [1 / 2, 0, 0, 0]]))  # each response counts 1/2
    assert torch.allclose(co, mask / 16)                                      # 2 responses x 8 new tokens
    # the short response weighs 4 times more per token under seq-mean than under token-mean's equal shares
    assert abs(float(sm[1, 0] / sm[0, 0]) - 4.0) < 1e-6 and abs(float(tm[1, 0] / tm[0, 0]) - 1.0) < 1e-6


@pytest.mark.exercise("policy_loss")
def test_policy_loss_with_weights_sums_the_weighted_clipped_tokens():
    ratio = torch.tensor([[1.5, 0.5, 0.5, 1.5, 1.1]])
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])
    weights = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.0]])
    old = torch.full_like(ratio, -1.0)
    loss, _ = train_ppo.policy_loss(old + ratio.log(), old, adv, mask, 0.2, weights)
    # per token max(-A r, -A clip(r)): -1.2 (clipped), -0.5, 0.8 (clipped), 1.5; then weighted and summed
    assert abs(float(loss) - (0.1 * -1.2 + 0.2 * -0.5 + 0.3 * 0.8 + 0.4 * 1.5)) < 1e-6


# ----------------------------------------------------------------------------------------------------------------
# "My GRPO loss is zero": on-policy, zero-mean advantages, seq-mean -> loss 0, gradient not 0

@pytest.mark.requires_solutions          # uses two exercises at once (policy_loss and loss_weights)
def test_on_policy_grpo_loss_is_zero_but_its_gradient_is_not():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=16, n_layer=1, n_head=2, n_embd=16))
    G, P = 4, 4
    seq = torch.randint(0, 16, (2 * G, 10))                         # 2 prompts x G responses, 6 response tokens
    attn = torch.ones_like(seq)
    lengths = [6, 2, 4, 1, 5, 6, 3, 2]
    mask = torch.tensor([[1.0] * n + [0.0] * (6 - n) for n in lengths])
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.3, -1.2, 2.0, 0.4]])
    adv = train_grpo.group_advantages(rewards, "drgrpo").reshape(-1)           # zero mean in every group
    advantages = adv[:, None] * mask
    logprobs = token_logprobs(response_logits(model, seq, attn, P), seq[:, P:]) * mask
    old = logprobs.detach()                                     # epochs 1, minibatches 1: pi_old is pi, ratio 1
    w = train_grpo.loss_weights(mask, "seq-mean", 6)
    loss, _ = train_ppo.policy_loss(logprobs, old, advantages, mask, 0.2, w)
    assert abs(loss.item()) < 1e-6                              # -(1/n) sum_i A_i = 0: the VALUE says nothing
    grads = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    assert norm > 1e-3, norm                                    # ... the gradient still moves the policy
    # and it is the policy gradient -(1/n) sum_i A_i / |o_i| sum_t grad log pi(o_it), written out token by token
    n = len(lengths)
    surrogate = sum(-float(adv[i]) / (n * lengths[i]) * logprobs[i, t] for i in range(n) for t in range(lengths[i]))
    expect = torch.autograd.grad(surrogate, list(model.parameters()))
    for g, e in zip(grads, expect):
        assert torch.allclose(g, e, atol=1e-6)


def rloo_vs_drgrpo_steps(grad_clip: float, adam_eps: float, epochs: int = 3):
    """train_grpo.update (epochs x 1 minibatch, no KL term) from the same policy, Adam and rollout, with rloo's and
    with drgrpo's advantages -> the two parameter changes (flattened), drgrpo's first gradient norm, and lr."""
    torch.manual_seed(1)
    base = GPT(GPTConfig(block_size=32, vocab_size=16, n_layer=1, n_head=2, n_embd=16))
    G, P, T = 4, 4, 6
    seq = torch.randint(1, 16, (2 * G, P + T))
    mask = torch.ones(2 * G, T)
    rewards = torch.randn(2, G)
    cfg = with_preset(train_grpo.Config, train_grpo.PRESETS, "test", group_size=G, prompts_per_iteration=2,
                      epochs=epochs, minibatches=1, kl_in="reward", beta=0.0, grad_clip=grad_clip, lr=1e-3)
    deltas, norms = [], []
    for how in ("rloo", "drgrpo"):
        policy = copy.deepcopy(base)
        opt = make_optimizer(policy.parameters(), cfg.lr)
        opt.param_groups[0]["eps"] = adam_eps
        with torch.no_grad():
            old = token_logprobs(response_logits(policy, seq, torch.ones_like(seq), P), seq[:, P:]) * mask
        exp = train_ppo.Experience(seq=seq, attn=torch.ones_like(seq), n_prompt=P, pad_id=0, tokens=seq[:, P:],
                                   mask=mask, ended=torch.ones(2 * G, dtype=torch.bool), logprobs=old,
                                   ref_logprobs=old.clone())
        exp.advantages = train_grpo.group_advantages(rewards, how).reshape(-1)[:, None] * mask
        probe = copy.deepcopy(policy)                           # the first gradient's norm, for the clip case
        lp = token_logprobs(response_logits(probe, seq, torch.ones_like(seq), P), seq[:, P:])
        w = train_grpo.loss_weights(mask, cfg.loss_agg, T)
        grads = torch.autograd.grad(train_ppo.policy_loss(lp, old, exp.advantages, mask, cfg.clip_eps, w)[0],
                                    list(probe.parameters()))
        norms.append(float(torch.sqrt(sum((g ** 2).sum() for g in grads))))
        before = torch.cat([p.detach().flatten() for p in policy.parameters()])
        train_grpo.update(exp, policy, opt, cfg, T, torch.Generator().manual_seed(0), nullcontext)
        deltas.append(torch.cat([p.detach().flatten() for p in policy.parameters()]) - before)
    assert abs(norms[0] / norms[1] - G / (G - 1)) < 1e-4         # rloo's gradient is drgrpo's times 4/3
    return deltas[0], deltas[1], norms[1], cfg.lr


@pytest.mark.requires_solutions          # uses policy_loss, group_advantages and loss_weights
def test_under_adam_rloo_and_drgrpo_differ_only_through_eps_and_the_clip():
    """A_rloo = G/(G-1) A_drgrpo scales every gradient by 4/3. Adam divides the gradient by its own running size,
    so without the gradient-norm clip the two runs take the same steps, up to Adam's eps; a clip that catches one
    run's gradient and not the other's makes them differ (lesson 9)."""
    def apart(a, b, lr, q):                                      # a quantile of |step_rloo - step_drgrpo| / lr
        return float(((a - b).abs() / lr).quantile(q))

    a, b, _, lr = rloo_vs_drgrpo_steps(grad_clip=1e9, adam_eps=1e-30)
    assert (b.abs() > 0.5 * lr).float().mean() > 0.5              # most weights moved by about lr per step
    same = apart(a, b, lr, 0.99)
    assert same < 1e-3 and apart(a, b, lr, 1.0) < 0.01            # no eps, no clip: the same steps, but for fp32
    a, b, norm, lr = rloo_vs_drgrpo_steps(grad_clip=1e9, adam_eps=1e-8)
    assert same < apart(a, b, lr, 0.99) and apart(a, b, lr, 1.0) < 0.1    # Adam's eps: a little apart
    a, b, _, lr = rloo_vs_drgrpo_steps(grad_clip=1.15 * norm, adam_eps=1e-30)   # clips rloo's, not drgrpo's
    assert apart(a, b, lr, 0.5) > 1e-3                             # now half the weights differ by > 0.1% of lr


# ----------------------------------------------------------------------------------------------------------------
# The KL in the loss (Tang & Munos 2025): on a one-step softmax, the exact expectation over y ~ pi

def one_step(seed):
    g = torch.Generator().manual_seed(seed)
    theta = (torch.randn(6, generator=g, dtype=torch.float64) * 1.5).requires_grad_()
    ref_logp = torch.log_softmax(torch.randn(6, generator=g, dtype=torch.float64) * 1.5, 0)
    return theta, ref_logp


def expected_grad(theta, ref_logp, which: int):
    """sum_y pi(y) * grad_theta k(y), pi detached (the expectation a sampler estimates), one outcome at a time."""
    logp = torch.log_softmax(theta, 0)
    pi = logp.detach().exp()
    total = torch.zeros(6, dtype=torch.float64)
    for y in range(6):
        k = kl_per_token(logp[y:y + 1], ref_logp[y:y + 1])[which]       # 0: k1, 1: k3
        total += pi[y] * torch.autograd.grad(k.sum(), theta, retain_graph=True)[0]
    return total


@pytest.mark.parametrize("seed", range(4))
def test_k3_in_the_loss_has_the_gradient_of_kl_ref_to_pi_the_forward_kl_and_k1_none(seed):
    theta, ref_logp = one_step(seed)
    logp = torch.log_softmax(theta, 0)
    pi, ref = logp.exp(), ref_logp.exp()
    g3, g1 = expected_grad(theta, ref_logp, 1), expected_grad(theta, ref_logp, 0)
    kl_ref_pi = (ref * (ref_logp - logp)).sum()                          # KL(pi_ref || pi), exactly
    kl_pi_ref = (pi * (logp - ref_logp)).sum()                           # KL(pi || pi_ref), exactly
    g_ref_pi = torch.autograd.grad(kl_ref_pi, theta, retain_graph=True)[0]
    g_pi_ref = torch.autograd.grad(kl_pi_ref, theta, retain_graph=True)[0]
    assert torch.allclose(g3, g_ref_pi, atol=1e-10)                     # E[grad k3] = grad KL(pi_ref || pi)
    assert torch.allclose(g3, (pi - ref).detach(), atol=1e-10)          # = pi - pi_ref in the logits, by hand
    assert g1.abs().max() < 1e-12                                       # E[grad k1] = E[grad log pi] = 0
    assert (g3 - g_pi_ref).norm() > 0.05, (g3, g_pi_ref)                # not the KL that PPO's reward penalises
    # what does give grad KL(pi || pi_ref): k1 as a (detached) reward, the score-function gradient
    score = sum(pi[y].detach() * (logp[y] - ref_logp[y]).detach() * torch.autograd.grad(
        logp[y], theta, retain_graph=True)[0] for y in range(6))
    assert torch.allclose(score, g_pi_ref, atol=1e-10)


# ----------------------------------------------------------------------------------------------------------------
# The verifier

SUM = "User: What is 3 plus 4?\nAssistant:"


@pytest.mark.parametrize("prompt, response, expect", [
    (SUM, " 3 plus 4 is 7.", 1.0),
    (SUM, " 7.", 1.0),
    (SUM, " The sum of 3 and 4 is 7. Hope that helps!", 1.0),
    (SUM, " It is 6 or 7.", 1.0),          # the last number is right: an incomplete verifier passes a hedge
    (SUM, " It is 7 or 6.", 0.0),
    (SUM, " 3 plus 4 is 8.", 0.0),
    (SUM, " 17.", 0.0),
    (SUM, " 3 plus 4.", 0.0),              # only the question restated: no answer
    (SUM, " 3 plus 4 is 7 or 4.", 0.0),    # each summand is taken out ONCE: the second 4 is an answer, the last
    (SUM, "", 0.0),
    ("User: Add 2 and 2.\nAssistant:", " 2 plus 2 is 4", 1.0),   # equal summands: each is taken out once
    ("User: Add 2 and 2.\nAssistant:", " 2 plus 2 is 2", 0.0),
    ("User: What colour is the banana?\nAssistant:", " It is 7.", 0.0),
])
def test_verify_by_hand(prompt, response, expect):
    assert verify(prompt, response) == expect


def test_sum_questions_are_recognised_and_nothing_else():
    assert verifier.summands(SUM) == (3, 4) and expected_answer(SUM) == 7
    for prompt in ("User: What colour is the banana?\nAssistant:", "User: What does the cow say?\nAssistant:",
                   "User: Is this right? 3 plus 4 is 2.\nAssistant:", "User: What is 3 times 4?\nAssistant:"):
        assert not is_sum(prompt) and expected_answer(prompt) is None and verify(prompt, " 7.") == 0.0, prompt


def test_every_world_sum_prompt_is_recognised_with_its_answer_and_no_other_prompt():
    world = World()          # a test may read the world's facts; the verifier itself may not
    prompts = world.train_prompts + world.dev_prompts + world.test_prompts
    kinds = {p.fact.kind for p in prompts}
    assert kinds == {"colour", "sound", "sum"}
    n_sums = 0
    for p in prompts:
        if p.fact.kind == "sum":
            n_sums += 1
            assert is_sum(p.text) and expected_answer(p.text) == int(p.fact.answer), p.text
            assert verify(p.text, world.best_response(p.text)) == 1.0, p.text
            for a in range(1, 11):
                assert verify(p.text, f" It is {a}.") == float(a == int(p.fact.answer)), (p.text, a)
        else:
            assert not is_sum(p.text) and expected_answer(p.text) is None, p.text
            assert verify(p.text, world.best_response(p.text)) == 0.0
    assert n_sums == 60                               # 10 sums x 6 templates


FORBIDDEN = {"gold_reward", "fact_of", "label", "best_response", "World"}


def forbidden_uses(source: str) -> set[str]:
    """The names of the world's gold, facts and labeler that a source imports or names, and any import of
    nano_rlhf.world."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if "world" in a.name.split(".")}
            found |= {a.asname or a.name for a in node.names} & FORBIDDEN
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if "world" in module.split(".") or any(a.name == "world" for a in node.names):
                found.add(f"from {module} import world")
            found |= {a.name for a in node.names} & FORBIDDEN
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN | {"world"}:
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN | {"world"}:
            found.add(node.attr)
    return found


def test_the_verifier_never_sees_gold_facts_or_labels():
    assert forbidden_uses((ROOT / "nano_rlhf" / "verifier.py").read_text("utf-8")) == set()
    # and the check itself catches each way in
    for bad in ("from nano_rlhf.world import World", "import nano_rlhf.world", "from nano_rlhf import world",
                "w.gold_reward(p, r)", "x = fact_of", "w.label(p, a, b, rng)", "w.best_response(p)",
                "import nano_rlhf\nnano_rlhf.world.World()"):
        assert forbidden_uses(bad), bad


# ----------------------------------------------------------------------------------------------------------------
# pass@k

def test_pass_at_k_equals_the_closed_form_over_a_grid():
    for n in range(1, 21):
        for c in range(n + 1):
            for k in range(1, n + 1):
                expect = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert abs(pass_at_k(n, c, k) - expect) < 1e-12, (n, c, k)
            assert pass_at_k(n, 0, 1) == 0.0 and pass_at_k(n, n, 1) == 1.0
            assert abs(pass_at_k(n, c, 1) - c / n) < 1e-12
    assert pass_at_k(16, 0, 8) == 0.0 and pass_at_k(16, 16, 8) == 1.0 and pass_at_k(16, 9, 8) == 1.0
    # by hand: 4 samples, 1 right, k = 2: 1 - C(3, 2) / C(4, 2) = 1 - 3/6
    assert abs(pass_at_k(4, 1, 2) - 0.5) < 1e-12


def test_pass_at_k_averaged_over_draws_is_the_chance_that_one_of_k_passes():
    """Unbiased: the estimator equals the fraction of the k-subsets of the n samples that hold a pass."""
    from itertools import combinations
    samples = [1, 0, 0, 1, 0, 0, 0]
    for k in range(1, len(samples) + 1):
        subsets = list(combinations(samples, k))
        assert abs(pass_at_k(len(samples), sum(samples), k) - np.mean([any(s) for s in subsets])) < 1e-12


@pytest.mark.parametrize("n, c, k", [(4, 1, 5), (4, 1, 0), (4, 5, 2), (4, -1, 2)])
def test_pass_at_k_refuses_impossible_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


# ----------------------------------------------------------------------------------------------------------------
# End to end at --preset test: every advantage, aggregation, KL placement and reward at least once in four runs

RUNS = [dict(advantage="grpo", loss_agg="seq-mean", kl_in="loss", reward="rm"),
        dict(advantage="drgrpo", loss_agg="constant", kl_in="reward", reward="rm+verifier"),
        dict(advantage="rloo", loss_agg="token-mean", kl_in="loss", reward="verifier"),
        dict(advantage="reinforce", loss_agg="seq-mean", kl_in="reward", reward="rm")]


def test_the_runs_cover_every_choice():
    fields = {f.name: f for f in train_grpo.Config.__dataclass_fields__.values()}
    for name in ("advantage", "loss_agg", "kl_in", "reward"):
        assert {r[name] for r in RUNS} == set(fields[name].metadata["choices"]), name


@pytest.mark.requires_solutions
@pytest.mark.parametrize("flags", RUNS, ids=lambda f: "-".join(f.values()))
def test_test_preset_runs_end_to_end(flags, rm_chain_dir, tmp_path, monkeypatch):
    shutil.copy(rm_chain_dir / "sft.pt", tmp_path / "sft.pt")
    if flags["reward"] != "verifier":
        shutil.copy(rm_chain_dir / "rm.pt", tmp_path / "rm.pt")          # the verifier needs no RM at all
    seen = []                                                            # every prompt the verifier is asked about
    real_verify = train_grpo.verify
    monkeypatch.setattr(train_grpo, "verify", lambda p, y: seen.append(p) or real_verify(p, y))
    cfg = with_preset(train_grpo.Config, train_grpo.PRESETS, "test", out_dir=str(tmp_path), **flags)
    s = train_grpo.main(cfg)

    for key in ("gold_reward_sft", "gold_reward_grpo", "kl", "win_rate_vs_sft", "wall_seconds", "split",
                "pass_sft", "pass_grpo"):
        assert key in s, key
    assert s["split"] == "test" and all(s[k] == v for k, v in flags.items())
    assert math.isfinite(s["gold_reward_grpo"]) and math.isfinite(s["kl"]) and 0 <= s["win_rate_vs_sft"] <= 1
    for which in ("pass_sft", "pass_grpo"):
        assert 0 <= s[which]["pass@1"] <= s[which][f"pass@{cfg.pass_k}"] <= 1, s[which]
    assert s["history"][0]["iteration"] == 0 and abs(s["history"][0]["kl"]) < 1e-3     # policy == reference
    on_disk = json.loads((tmp_path / "grpo_summary.json").read_text())
    assert on_disk["gold_reward_grpo"] == s["gold_reward_grpo"]

    ckpt = load_checkpoint(str(tmp_path / "grpo.pt"), "grpo")
    sft = load_checkpoint(str(tmp_path / "sft.pt"), "sft")
    if flags["reward"] == "verifier":
        assert ckpt["parents"] == {"sft": sft["id"]}
    else:
        assert ckpt["parents"] == {"sft": sft["id"], "rm": load_checkpoint(str(tmp_path / "rm.pt"), "rm")["id"]}

    rows = [json.loads(line) for line in (tmp_path / "grpo_metrics.jsonl").read_text().splitlines()]
    iters = [r for r in rows if r["kind"] == "iteration"]
    assert [r["iteration"] for r in iters] == list(range(cfg.iterations))
    kinds = {p.text: p.fact.kind for p in World(sft["config"]["world_seed"]).train_prompts}
    trained_on = [p for p in seen if p in kinds]                         # the training rollouts' prompts
    assert len(trained_on) == cfg.iterations * cfg.prompts_per_iteration * cfg.group_size
    if flags["reward"] == "verifier":                                    # sums only, so the 0/1 reward means
        assert {kinds[p] for p in trained_on} == {"sum"}                 # something for every prompt
        assert all(0 <= r["reward"] <= 1 and 0 <= r["pass_rate"] <= 1 for r in iters)
    else:                                                                # every kind: the RM scores them all
        assert {kinds[p] for p in trained_on} - {"sum"}


def test_missing_checkpoints_are_one_line_errors(tmp_path, rm_chain_dir):
    cfg = with_preset(train_grpo.Config, train_grpo.PRESETS, "test", out_dir=str(tmp_path))
    with pytest.raises(UserError, match=r"sft\.pt not found: run `python train_sft.py` first"):
        train_grpo.main(cfg)
    (tmp_path / "sft.pt").write_bytes((rm_chain_dir / "sft.pt").read_bytes())
    for reward in ("rm", "rm+verifier"):
        with pytest.raises(UserError, match=r"rm\.pt not found: run `python train_rm.py` first") as e:
            train_grpo.main(with_preset(train_grpo.Config, train_grpo.PRESETS, "test", out_dir=str(tmp_path),
                                        reward=reward))
        assert "\n" not in str(e.value)
    assert not (tmp_path / "grpo.pt").exists()
