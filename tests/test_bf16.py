"""bf16 autocast (CPU standing in for CUDA): the numbers PPO and DPO subtract must come from passes that agree.

A tiny GPT with trained-sized logits, in process. With the bf16 LM head, PAD sampled and pi_old taken from
sampling, the PPO tests measured 4.9e-2 (log ratio) and 5.6e-2 (KL), DPO's 1.5e-2; with the fp32 head but pi_old
still from sampling, 1.4e-2 and 3.6e-2. CPU kernels cannot show CUDA's dependence on the batch's shape.
"""
import copy
import random
from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F

import train_dpo
import train_ppo
from nano_rlhf.common import make_optimizer
from nano_rlhf.evaluate import kl_per_token
from nano_rlhf.model import GPT, GPTConfig, ValueModel, generate, token_logprobs

V, EOS, PAD = 64, 62, 63
BF16 = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731


def trained_ish(seed=0, blocks=3.0):
    """A 2-layer GPT with a trained model's spread of logits (about +-10, entropy ~3 nats at T = 0.7) and blocks that
    matter (weights x `blocks`): at init (std 0.02, tied head) the logits sit near 0 and the blocks add little, so
    bf16 rounds harmlessly."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(block_size=48, vocab_size=V, n_layer=2, n_head=2, n_embd=32))
    with torch.no_grad():
        model.lm_head.weight = torch.nn.Parameter(model.wte.weight * 10.0)     # untied, 10x the embedding
        for p in model.blocks.parameters():
            if p.dim() > 1:
                p.mul_(blocks)
    return model


def prompts(B, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 9, (B,), generator=g).tolist()
    rows = [torch.randint(0, EOS, (n,), generator=g).tolist() for n in lengths]
    P = max(lengths)
    idx = torch.tensor([[PAD] * (P - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (P - len(r)) + [1] * len(r) for r in rows])
    return idx, mask


def ppo_iteration_zero(monkeypatch, autocast=BF16):
    """The real rollout, score and update of one iteration, with pi_ref an exact copy of pi.
    Returns the Experience and log pi_train - log pi_old over the first minibatch's real tokens, as update's
    first call to policy_loss sees them (the policy not yet stepped)."""
    cfg = train_ppo.Config(batch_size=16, minibatches=2, epochs=1, temperature=0.7, max_new_tokens=24)
    policy = trained_ish()
    ref = copy.deepcopy(policy).eval()
    torch.manual_seed(1)
    rm = ValueModel(policy.cfg).eval()
    critic = copy.deepcopy(rm)
    gen = torch.Generator().manual_seed(0)
    p_idx, p_mask = prompts(cfg.batch_size)
    exp = train_ppo.rollout(policy, p_idx, p_mask, cfg, cfg.max_new_tokens, EOS, PAD, gen, autocast)
    train_ppo.score(exp, policy, ref, rm, critic, {"gain": 1.0, "bias": 0.0}, cfg, 0.1, autocast)
    seen = []
    real_policy_loss = train_ppo.policy_loss

    def recording_policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps):
        if not seen:
            seen.append((logprobs.detach() - old_logprobs)[mask.bool()])
        return real_policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps)

    monkeypatch.setattr(train_ppo, "policy_loss", recording_policy_loss)
    train_ppo.update(exp, policy, critic, make_optimizer(policy.parameters(), cfg.lr),
                     make_optimizer(critic.parameters(), cfg.critic_lr), cfg, gen, autocast)
    return exp, seen[0]


@pytest.mark.parametrize("autocast,tol", [(BF16, 1e-3), (nullcontext, 1e-5)])
def test_old_logprobs_match_the_training_pass_at_the_first_minibatch(monkeypatch, autocast, tol):
    """bf16: pi_old from the pass update makes. fp32: PAD left out alike in sampling and training (PAD counted in
    the training pass only moves the ratio by log(1 - p(PAD)), 1.1 nats here)."""
    _, log_ratio = ppo_iteration_zero(monkeypatch, autocast)
    assert log_ratio.numel() > 100
    assert float(log_ratio.abs().max()) <= tol, float(log_ratio.abs().max())


def test_kl_to_an_identical_reference_is_zero_at_iteration_zero(monkeypatch):
    exp, _ = ppo_iteration_zero(monkeypatch)
    k1, k3 = kl_per_token(exp.logprobs, exp.ref_logprobs)
    assert float((k1 * exp.mask).sum(1).abs().max()) <= 1e-5       # nats per response, every response
    assert float((k3 * exp.mask).sum(1).max()) <= 1e-5


@torch.no_grad()
def test_dpo_reference_logprobs_match_the_training_pass():
    """reference_logprobs (batches of 256, sorted by length) against sequence_logprobs on shuffled batches of 32,
    as train_dpo.main computes them: within 5e-3 nats per sequence (|log pi| ~56). Measured 2.6e-3, and 1.5e-2
    with the bf16 head. What remains is the bf16 SDPA kernel, whose rounding depends on the batch's padded width
    (attn="explicit" agrees to 1e-5 on CPU) and grows with how much attention matters (blocks x3: 1.1e-2); only
    passes of the same shapes remove it (train_dpo.reference_logprobs)."""
    model = trained_ish(seed=2, blocks=1.0)
    rng = random.Random(0)
    word = lambda lo, hi: [rng.randrange(EOS) for _ in range(rng.randint(lo, hi))]  # noqa: E731
    data = [(word(2, 12), word(1, 20) + [EOS], word(1, 20) + [EOS]) for _ in range(160)]
    ref_c, ref_r = train_dpo.reference_logprobs(model.eval(), data, PAD, "cpu", BF16)
    model.train()                                    # dropout 0: train mode changes nothing but is what runs
    worst = 0.0
    for j in train_dpo.epoch_batches(data, 32, random.Random(1)):
        c, r = train_dpo.sequence_logprobs(model, [data[k] for k in j], PAD, "cpu", BF16)
        worst = max(worst, float((c - ref_c[j]).abs().max()), float((r - ref_r[j]).abs().max()))
    assert worst <= 5e-3, worst


def test_kv_cache_is_allocated_in_the_autocast_dtype(monkeypatch):
    import nano_rlhf.model as model_module
    caches = []

    class RecordingCache(model_module.KVCache):
        def __init__(self, *args):
            super().__init__(*args)
            caches.append(self)

    monkeypatch.setattr(model_module, "KVCache", RecordingCache)
    model = trained_ish().eval()
    idx, mask = prompts(4)
    with BF16():
        g = generate(model, idx, mask, 8, EOS, PAD, generator=torch.Generator().manual_seed(0))
    generate(model, idx, mask, 8, EOS, PAD, generator=torch.Generator().manual_seed(0))
    assert [c.k.dtype for c in caches] == [c.v.dtype for c in caches] == [torch.bfloat16, torch.float32]
    assert caches[0].length > idx.size(1) and torch.isfinite(g.logprobs).all()


@pytest.mark.parametrize("autocast", [nullcontext, BF16])
def test_pad_is_never_sampled_and_logprobs_are_over_the_other_tokens(autocast):
    """A model whose PAD logit is far above every other: without the mask nearly every token would be PAD."""
    model = trained_ish().eval()
    seen = []

    def huge_pad_logit(module, args, logits):
        logits = logits.clone()
        logits[..., PAD] += 100.0
        seen.append(logits[:, -1])           # the logits generate sampled each step from, (B, V)
        return logits

    model.lm_head.register_forward_hook(huge_pad_logit)
    idx, mask = prompts(8)
    with autocast():
        g = generate(model, idx, mask, 20, EOS, PAD, temperature=0.8, generator=torch.Generator().manual_seed(0))
    real = g.mask.bool()
    logits = torch.zeros(*g.tokens.shape, seen[0].size(-1))             # (B, N, V); a row leaves at its EOS,
    for i, step in enumerate(seen[:g.tokens.size(1)]):                   # so step i holds the rows still real
        logits[real[:, i], i] = step.float()
    assert (logits.argmax(-1)[real] == PAD).all() and not (g.tokens[real] == PAD).any()
    # independently: log-softmax over the columns without PAD's (PAD is the last id)
    expect = F.log_softmax(logits[..., :PAD] / 0.8, -1).gather(-1, g.tokens.clamp(max=PAD - 1)[..., None])[..., 0]
    assert torch.allclose(g.logprobs[real], expect[real], atol=1e-5)
    # the training side, token_logprobs(..., pad_id): the same numbers, and 0 at the PAD padding after an EOS
    lp = token_logprobs(logits, g.tokens, 0.8, pad_id=PAD)
    assert torch.allclose(lp[real], expect[real], atol=1e-5) and (lp[~real] == 0).all()
    # a proper distribution over the other tokens: the V - 1 probabilities sum to 1
    every = torch.arange(PAD).expand(*logits.shape[:2], PAD)             # (B, N, V - 1) every non-PAD id
    total = torch.stack([token_logprobs(logits, every[..., v], 0.8, pad_id=PAD) for v in range(PAD)]).exp().sum(0)
    assert torch.allclose(total, torch.ones_like(total), atol=1e-5)


def test_the_lm_head_runs_without_tf32():
    """fp32_matmul turns TF32 off around the heads (setup_runtime turns it on for CUDA) and restores it after."""
    model, seen = trained_ish(), []
    model.lm_head.register_forward_hook(lambda *_: seen.append(torch.backends.cuda.matmul.allow_tf32))
    before = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = True
        with BF16():
            model(torch.tensor([[1, 2, 3]]))
        assert seen == [False] and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
