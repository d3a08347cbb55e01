"""Stage 3: every PPO formula against an independent computation, and the whole chain end to end."""
import json
import math

import pytest
import torch

import train_ppo
from nano_rlhf.checkpoint import build_policy, build_value_model, load_checkpoint, load_tokenizer
from nano_rlhf.common import UserError, with_preset
from nano_rlhf.data import left_pad
from nano_rlhf.evaluate import kl_per_token
from nano_rlhf.model import GPT, GPTConfig, ValueModel, generate, response_logits, response_values, token_logprobs
from nano_rlhf.world import World


def ragged(B=4, T=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = [7, 1, 4, 3][:B]
    mask = torch.tensor([[1.0] * n + [0.0] * (T - n) for n in lengths])
    return torch.randn(B, T, generator=g) * mask, torch.randn(B, T, generator=g) * mask, mask, lengths


@pytest.mark.exercise("gae")
@pytest.mark.parametrize("gamma,lam", [(1.0, 0.95), (0.9, 0.8), (1.0, 1.0), (0.5, 0.0)])
def test_gae_equals_a_direct_sum_of_discounted_td_errors(gamma, lam):
    rewards, values, mask, lengths = ragged()
    adv, ret = train_ppo.gae(rewards, values, mask, gamma, lam)
    for b, n in enumerate(lengths):
        V = [float(values[b, t]) for t in range(n)] + [0.0]     # the episode ends at the EOS: V after it is 0
        delta = [float(rewards[b, t]) + gamma * V[t + 1] - V[t] for t in range(n)]
        for t in range(n):
            expect = sum((gamma * lam) ** l * delta[t + l] for l in range(n - t))
            assert abs(float(adv[b, t]) - expect) < 1e-5
            assert abs(float(ret[b, t]) - (expect + V[t])) < 1e-5
        assert (adv[b, n:] == 0).all() and (ret[b, n:] == 0).all()


@pytest.mark.exercise("gae")
def test_gae_with_lambda_one_and_gamma_one_is_reward_to_go_minus_value():
    rewards, values, mask, lengths = ragged(seed=1)
    adv, ret = train_ppo.gae(rewards, values, mask, 1.0, 1.0)
    for b, n in enumerate(lengths):
        for t in range(n):
            assert abs(float(ret[b, t]) - float(rewards[b, t:n].sum())) < 1e-5


def test_k1_and_k3_estimate_the_exact_kl_of_small_categoricals():
    g = torch.Generator().manual_seed(0)
    for scale in (0.3, 0.3, 1.5):   # near (as a policy under a KL leash) and far from the reference
        z = torch.randn(5, generator=g)
        p, q = torch.softmax(z, 0), torch.softmax(z + scale * torch.randn(5, generator=g), 0)
        exact = float((p * (p / q).log()).sum())
        x = torch.multinomial(p, 200_000, replacement=True, generator=g)
        k1, k3 = kl_per_token(p.log()[x], q.log()[x])
        assert (k3 >= 0).all() and (k1 < 0).any()           # k3 never negative; k1 often is, per sample
        se1, se3 = float(k1.std()) / math.sqrt(len(x)), float(k3.std()) / math.sqrt(len(x))
        assert abs(float(k1.mean()) - exact) < 4 * se1 + 1e-4
        assert abs(float(k3.mean()) - exact) < 4 * se3 + 1e-4
        if scale < 1:
            assert se3 < se1                                  # k3's variance is lower when pi is near pi_ref


@pytest.mark.exercise("kl_penalty")
def test_kl_penalty_rewards_by_hand():
    logprobs = torch.tensor([[-1.0, -2.0, -0.5, 0.0], [-1.0, -1.0, 0.0, 0.0]])
    ref = torch.tensor([[-1.5, -1.0, -0.5, -9.0], [-2.0, -1.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    r = train_ppo.kl_penalty_rewards(logprobs, ref, torch.tensor([2.0, -1.0]), mask, beta=0.1, estimator="k1")
    expect = torch.tensor([[-0.05, 0.1, 0.0 + 2.0, 0.0], [-0.1 - 1.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(r, expect, atol=1e-6)
    r3 = train_ppo.kl_penalty_rewards(logprobs, ref, torch.zeros(2), mask, beta=1.0, estimator="k3")
    lr = -0.5   # token (0, 0): log(pi_ref / pi) = -1.5 - (-1.0)
    assert abs(float(r3[0, 0]) - -(math.exp(lr) - 1 - lr)) < 1e-6 and (r3 <= 0).all()


@pytest.mark.exercise("policy_loss")
def test_clipped_policy_loss_at_the_clip_boundaries():
    ratio = torch.tensor([[1.5, 0.5, 0.5, 1.5, 1.1]])
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0, 3.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])                 # the last token is padding
    old = torch.full_like(ratio, -1.0)
    loss, stats = train_ppo.policy_loss(old + ratio.log(), old, adv, mask, clip_eps=0.2)
    # per token max(-A r, -A clip(r)): -1.2 (clipped), -0.5, 0.8 (clipped), 1.5
    assert abs(float(loss) - (-1.2 - 0.5 + 0.8 + 1.5) / 4) < 1e-6
    assert abs(stats["clipfrac"] - 0.5) < 1e-6


@pytest.mark.exercise("value_loss")
def test_clipped_value_loss_by_hand():
    values = torch.tensor([[0.5, -0.5, 0.1, 7.0]])
    old = torch.zeros(1, 4)
    returns = torch.tensor([[1.0, -1.0, 1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    loss = train_ppo.value_loss(values, old, returns, mask, vf_clip=0.2)
    assert abs(float(loss) - 0.5 * (0.64 + 0.64 + 0.81) / 3) < 1e-6


def test_whiten_uses_real_tokens_only():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    w = train_ppo.whiten(x, mask)
    assert torch.allclose(w, torch.tensor([[-1.2247449, 0.0, 1.2247449, 0.0]]), atol=1e-5)


@torch.no_grad()
def test_logprob_and_value_of_token_t_come_from_position_t_minus_1():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
    seq = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    P = 3                                                             # prompt = first 3 tokens
    lp = token_logprobs(response_logits(model, seq, torch.ones_like(seq), P), seq[:, P:])
    critic = ValueModel(model.cfg).eval()
    values = response_values(critic, seq, torch.ones_like(seq), P)
    assert lp.shape == values.shape == (1, seq.size(1) - P)
    for t in range(P, seq.size(1)):       # by hand: the prefix seq[:t] alone predicts token t and holds V(s_t)
        logits = model(seq[:, :t])[0, -1]
        assert abs(float(lp[0, t - P]) - float(torch.log_softmax(logits, -1)[seq[0, t]])) < 1e-5
        assert abs(float(values[0, t - P]) - float(critic(seq[:, :t])[0, -1])) < 1e-5


@pytest.mark.exercise("policy_loss")
def test_one_update_raises_the_logprob_of_positive_advantage_tokens():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=16, n_layer=1, n_head=2, n_embd=16))
    seq = torch.randint(0, 16, (4, 10))
    mask = torch.ones(4, 6)
    adv = torch.tensor([[1.0] * 6, [-1.0] * 6, [1.0] * 6, [-1.0] * 6])
    attn = torch.ones_like(seq)
    with torch.no_grad():
        old = token_logprobs(response_logits(model, seq, attn, 4), seq[:, 4:])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss, _ = train_ppo.policy_loss(token_logprobs(response_logits(model, seq, attn, 4), seq[:, 4:]), old, adv,
                                    mask, 0.2)
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        new = token_logprobs(response_logits(model, seq, attn, 4), seq[:, 4:])
    assert (new - old)[adv > 0].mean() > 0 > (new - old)[adv < 0].mean()


@torch.no_grad()
def test_kl_is_zero_at_iteration_zero(chain_dir):
    ck = load_checkpoint(str(chain_dir / "sft.pt"), "sft")
    tok, policy, ref = load_tokenizer(ck), build_policy(ck, "cpu").eval(), build_policy(ck, "cpu").eval()
    prompts = [p.text for p in World(ck["config"]["world_seed"]).train_prompts[:8]]
    p_idx, p_mask = left_pad([tok.encode(p) for p in prompts], tok.pad_id)
    g = generate(policy, p_idx, p_mask, 16, tok.eos_id, tok.pad_id, temperature=0.7,
                 generator=torch.Generator().manual_seed(0))
    seq, attn = torch.cat([p_idx, g.tokens], 1), torch.cat([p_mask, g.mask], 1)
    ref_lp = token_logprobs(response_logits(ref, seq, attn, p_idx.size(1)), g.tokens, 0.7, tok.pad_id) * g.mask
    k1, k3 = kl_per_token(g.logprobs, ref_lp)
    assert float((k1 * g.mask).sum(1).abs().max()) < 1e-4 and float((k3 * g.mask).sum(1).max()) < 1e-6


def test_critic_from_rm_starts_on_the_normalised_reward_scale(rm_chain_dir):
    ck = load_checkpoint(str(rm_chain_dir / "rm.pt"), "rm")
    rm, critic = build_value_model(ck, "cpu").eval(), build_value_model(ck, "cpu").eval()
    critic.head.fold_affine(ck["reward_norm"]["gain"], ck["reward_norm"]["bias"])
    x = torch.randint(0, 100, (3, 9))
    expect = ck["reward_norm"]["gain"] * rm(x) + ck["reward_norm"]["bias"]
    assert torch.allclose(critic(x), expect, atol=1e-4)


@pytest.mark.requires_solutions
def test_test_preset_runs_the_whole_chain(ppo_chain_dir):
    ckpt = load_checkpoint(str(ppo_chain_dir / "ppo.pt"), "ppo")
    sft, rm = (load_checkpoint(str(ppo_chain_dir / f"{s}.pt"), s) for s in ("sft", "rm"))
    assert ckpt["parents"] == {"sft": sft["id"], "rm": rm["id"]}
    s = json.loads((ppo_chain_dir / "ppo_summary.json").read_text())
    for key in ("gold_reward_sft", "gold_reward_ppo", "gold_reward_ppo_se", "gold_components_sft",
                "gold_components_ppo", "win_rate_vs_sft", "soft_win_rate_vs_sft", "rm_reward_ppo", "kl",
                "iterations", "wall_seconds", "history"):
        assert key in s
    assert s["history"][0]["iteration"] == 0 and abs(s["history"][0]["kl"]) < 1e-3   # policy == reference
    for png in ("ppo_curves.png", "ppo_reward_vs_kl.png"):
        assert (ppo_chain_dir / png).stat().st_size > 1000


@pytest.mark.requires_solutions
def test_beta_zero_and_ablation_flags_run(rm_chain_dir, tmp_path):
    for name in ("sft.pt", "rm.pt"):
        (tmp_path / name).write_bytes((rm_chain_dir / name).read_bytes())
    for flags in (dict(beta=0.0), dict(whiten=False, critic_init="scratch", kl_estimator="k3", target_kl=2.0,
                                       temperature=0.7, scale_logits=False)):
        cfg = with_preset(train_ppo.Config, train_ppo.PRESETS, "test", out_dir=str(tmp_path), iterations=1,
                          eval_interval=1, **flags)
        assert math.isfinite(train_ppo.main(cfg)["gold_reward_ppo"])


def test_missing_checkpoints_and_tokenizer_mismatch_are_one_line_errors(tmp_path, rm_chain_dir):
    cfg = with_preset(train_ppo.Config, train_ppo.PRESETS, "test", out_dir=str(tmp_path))
    with pytest.raises(UserError, match="sft.pt not found: run `python train_sft.py` first"):
        train_ppo.main(cfg)
    (tmp_path / "sft.pt").write_bytes((rm_chain_dir / "sft.pt").read_bytes())
    with pytest.raises(UserError, match="rm.pt not found: run `python train_rm.py` first"):
        train_ppo.main(cfg)
    rm = torch.load(rm_chain_dir / "rm.pt", weights_only=True)
    tokens = rm["tokenizer"]["tokens"]                  # the same number of ids, two of them swapped
    rm["tokenizer"] = {**rm["tokenizer"], "tokens": tokens[:-2] + tokens[-1:] + tokens[-2:-1]}
    torch.save(rm, tmp_path / "rm.pt")
    with pytest.raises(UserError, match="different tokenizer"):
        train_ppo.main(cfg)
    with pytest.raises(UserError, match="not a multiple"):
        train_ppo.main(with_preset(train_ppo.Config, train_ppo.PRESETS, "test", out_dir=str(tmp_path),
                                   minibatches=3))
