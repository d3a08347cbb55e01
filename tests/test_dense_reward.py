"""Dense rewards: train_ppo.shaping_rewards, nano_rlhf/shaping.py, train_grpo.process_advantages, both trainers'
--dense-reward and lessons/experiments/dense_reward.py."""
import shutil
import sys

import pytest
import torch

import train_grpo
import train_ppo
from nano_rlhf import shaping
from nano_rlhf.common import with_preset
from nano_rlhf.coursework import ROOT


def slow_shaping(phi, phi_empty, ends, mask):
    """The shaping rewards token by token: the difference of potentials at each sentence end, minus the latest
    potential at the last real token."""
    out = torch.zeros_like(phi)
    for b in range(phi.size(0)):
        prev, last = float(phi_empty[b]), int(mask[b].sum()) - 1
        for t in range(last + 1):
            if ends[b, t]:
                out[b, t] += phi[b, t] - prev
                prev = float(phi[b, t])
        out[b, last] -= prev
    return out


@pytest.mark.exercise("shaping")
def test_shaping_rewards_by_hand():
    # row 0: sentences end at tokens 1 and 3, the EOS at 4; row 1: no sentence, 3 tokens; row 2: no EOS, its last
    # real token (3) ends a sentence
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0]], dtype=torch.float)
    ends = torch.zeros(3, 6, dtype=torch.bool)
    ends[0, 1] = ends[0, 3] = ends[2, 1] = ends[2, 3] = True
    phi = torch.zeros(3, 6)
    phi[0, 1], phi[0, 3], phi[2, 1], phi[2, 3] = 0.5, 0.2, 1.0, -1.0
    phi_empty = torch.tensor([-0.1, 0.3, 0.25])
    F = train_ppo.shaping_rewards(phi, phi_empty, ends, mask)
    expected = torch.tensor([[0, 0.6, 0, -0.3, -0.2, 0],          # 0.5 - (-0.1), 0.2 - 0.5, then -Phi_K = -0.2
                             [0, 0, -0.3, 0, 0, 0],               # no sentence: -Phi(empty) on the last token
                             [0, 0.75, 0, -2.0 + 1.0, 0, 0]])     # 1 - 0.25; (-1 - 1) and -(-1) on one token
    assert torch.allclose(F, expected)
    assert torch.allclose(F.sum(1), -phi_empty)                   # + R at the end: R - Phi(empty)


@pytest.mark.exercise("shaping")
def test_shaping_rewards_match_a_slow_loop():
    g = torch.Generator().manual_seed(0)
    B, T = 16, 12
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None] < lengths[:, None]).float()
    ends = (torch.rand(B, T, generator=g) < 0.3) & mask.bool()
    phi, phi_empty = torch.randn(B, T, generator=g) * ends, torch.randn(B, generator=g)
    F = train_ppo.shaping_rewards(phi, phi_empty, ends, mask)
    assert torch.allclose(F, slow_shaping(phi, phi_empty, ends, mask), atol=1e-6)
    assert torch.allclose(F.sum(1), -phi_empty, atol=1e-5)
    assert (F * (1 - mask)).abs().max() == 0                      # nothing after the last real token


def test_sentence_ends_and_process_steps_by_hand():
    class Tok:
        eos_id, pad_id, vocab_size = 4, 5, 6
        decode = staticmethod(lambda ids: {0: " The", 1: ".", 2: " help!", 3: "? "}.get(ids[0], "."))
    table = shaping.sentence_end_table(Tok)
    assert table.tolist() == [False, True, True, True, False, False]   # EOS and PAD never end a sentence
    tokens = torch.tensor([[0, 1, 0, 2, 4, 5], [0, 1, 0, 0, 0, 0], [0, 0, 3, 5, 5, 5]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1] * 6, [1, 1, 1, 0, 0, 0]], dtype=torch.float)
    ended = torch.tensor([True, False, False])
    ends = shaping.sentence_ends(tokens, mask, table)
    assert ends.nonzero().tolist() == [[0, 1], [0, 3], [1, 1], [2, 2]]
    assert shaping.closing_sentence(ends, mask, ended).nonzero().tolist() == [[0, 3]]   # right before the EOS
    steps = shaping.process_steps(ends, mask, ended)
    assert steps.nonzero().tolist() == [[0, 1], [0, 4], [1, 1], [1, 5], [2, 2]]  # the closing step ends at the EOS


def test_prefix_batch_cuts_and_closes_each_prefix_with_eos():
    PAD, EOS = 9, 8
    seq = torch.tensor([[PAD, 1, 2, 3, 4, 5], [1, 1, 6, 7, PAD, PAD]])    # a 3-token prompt (left padded), 3 tokens
    attn = torch.tensor([[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    cut = torch.tensor([[False, True, True], [False, False, False]])
    idx, mask, rows, cols = shaping.prefix_batch(seq, attn, 3, cut, EOS, PAD)
    assert rows.tolist() == [0, 1, 0, 0] and cols.tolist() == [-1, -1, 1, 2]
    assert idx.tolist() == [[PAD, 1, 2, EOS, PAD, PAD, PAD], [1, 1, 6, EOS, PAD, PAD, PAD],
                            [PAD, 1, 2, 3, 4, EOS, PAD], [PAD, 1, 2, 3, 4, 5, EOS]]
    assert mask.tolist() == [[0, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0], [0, 1, 1, 1, 1, 1, 0],
                             [0, 1, 1, 1, 1, 1, 1]]


@pytest.fixture(scope="module")
def rm_and_rollout(rm_chain_dir):
    """The test chain's RM and a hand-made rollout: every case of a response (tokens of the chain's tokenizer)."""
    from nano_rlhf.checkpoint import build_value_model, load_sft_and_rm, load_tokenizer
    from nano_rlhf.data import left_pad
    from nano_rlhf.model import last_token_values
    sft, rm_ckpt = load_sft_and_rm(str(rm_chain_dir))
    tok, norm = load_tokenizer(sft), rm_ckpt["reward_norm"]
    rm = build_value_model(rm_ckpt, "cpu").eval()
    rm.gpt.set_dropout(0.0)
    prompts = ["User: What colour is the lemon?\nAssistant:", "User: What is 2 + 3?\nAssistant:"] * 2
    responses = [(" It is yellow. Happy to help!", True), (" 5. Well", True), (" I cannot say", True),
                 (" Yellow. It is red.", False)]         # closing sentence; text after it; no sentence; no EOS
    p_idx, p_mask = left_pad([tok.encode(p) for p in prompts], tok.pad_id, "cpu")
    r_ids = [tok.encode(r) + ([tok.eos_id] if e else []) for r, e in responses]
    T = max(map(len, r_ids))
    tokens = torch.tensor([r + [tok.pad_id] * (T - len(r)) for r in r_ids])
    mask = torch.tensor([[1.0] * len(r) + [0.0] * (T - len(r)) for r in r_ids])
    seq, attn = torch.cat([p_idx, tokens], 1), torch.cat([p_mask, mask.long()], 1)
    ended = torch.tensor([e for _, e in responses])
    with torch.no_grad():
        R = norm["gain"] * last_token_values(rm(seq, attn), attn) + norm["bias"]
    exp = train_ppo.Experience(seq=seq, attn=attn, n_prompt=p_idx.size(1), pad_id=tok.pad_id, tokens=tokens,
                               mask=mask, ended=ended, scores=torch.where(ended, R, torch.full_like(R, -2.0)))

    def direct(b, n_resp):
        """The RM's normalised score of row b's prompt + its first n_resp response tokens + EOS, unpadded."""
        ids = [i for i, m in zip(seq[b, :p_idx.size(1)].tolist(), p_mask[b].tolist()) if m]
        x = torch.tensor([ids + tokens[b, :n_resp].tolist() + [tok.eos_id]])
        with torch.no_grad():
            return float(norm["gain"] * rm(x)[0, -1] + norm["bias"])
    return rm, norm, tok, exp, direct


def test_prefix_potentials_are_the_rm_scores_of_each_prefix_and_the_rewards_sum_to_r_minus_phi_empty(
        rm_and_rollout):
    from contextlib import nullcontext
    rm, norm, tok, exp, direct = rm_and_rollout
    phi, phi_empty, ends = shaping.prefix_potentials(rm, norm, exp, tok, nullcontext)
    assert ends.sum(1).tolist() == [2, 1, 0, 2]
    for b in range(4):
        assert phi_empty[b].item() == pytest.approx(direct(b, 0), abs=1e-4)
        for t in ends[b].nonzero().flatten().tolist():
            assert phi[b, t].item() == pytest.approx(direct(b, t + 1), abs=1e-4)
    rewards = train_ppo.kl_penalty_rewards(exp.mask * 0, exp.mask * 0, exp.scores, exp.mask, 0.1) + \
        train_ppo.shaping_rewards(phi, phi_empty, ends, exp.mask)
    assert torch.allclose(rewards.sum(1), exp.scores - phi_empty, atol=1e-5)     # the shaping identity
    last = exp.mask.sum(1).long() - 1
    assert rewards[0, last[0]] == 0                  # the closing sentence's prefix is the response: the EOS gets 0
    assert rewards[1, last[1]] != 0                  # text after the last sentence: R - Phi_K on the EOS
    first = int(ends[3].nonzero()[0])                # no EOS, its last token ends sentence 2: the penalty - Phi_1
    assert rewards[3, last[3]].item() == pytest.approx(-2.0 - phi[3, first].item(), abs=1e-5)


def slow_process_advantages(step_rewards, steps, G, how, eps):
    B, T = steps.shape
    out = torch.zeros(B, T)
    for g in range(B // G):
        rows = range(g * G, (g + 1) * G)
        rs = torch.tensor([float(step_rewards[b, t]) for b in rows for t in range(T) if steps[b, t]])
        mean, std = rs.mean(), rs.std()             # the sample std over every step of the group
        for b in rows:
            for t in range(T):
                for u in range(t, T):                # the steps of this response ending at or after t
                    if steps[b, u]:
                        r = step_rewards[b, u] - mean
                        out[b, t] += r / (std + eps) if how == "grpo" else r
    return out


@pytest.mark.parametrize("how", ["grpo", "drgrpo"])
def test_process_advantages_match_a_slow_loop(how):
    g = torch.Generator().manual_seed(1)
    G, B, T = 4, 8, 7
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None] < lengths[:, None]).float()
    steps = (torch.rand(B, T, generator=g) < 0.3) & mask.bool()
    steps[torch.arange(B), lengths - 1] = True
    step_rewards = torch.randn(B, T, generator=g) * steps
    A = train_grpo.process_advantages(step_rewards, steps, G, how, 1e-4)
    assert torch.allclose(A, slow_process_advantages(step_rewards, steps, G, how, 1e-4), atol=1e-5)


def test_process_advantages_by_hand():
    # one group of two responses: steps (reward) at tokens 0 (1.0) and 2 (3.0); at token 1 (-1.0)
    step_rewards = torch.tensor([[1.0, 0, 3.0], [0, -1.0, 0]])
    steps = torch.tensor([[True, False, True], [False, True, False]])
    A = train_grpo.process_advantages(step_rewards, steps, 2, "drgrpo")   # mean 1: rewards 0, 2, -2
    assert A.tolist() == [[2.0, 2.0, 2.0], [-2.0, -2.0, 0.0]]
    A = train_grpo.process_advantages(step_rewards, steps, 2, "grpo", eps=0.0)   # std 2: 0, 1, -1
    assert A.tolist() == [[1.0, 1.0, 1.0], [-1.0, -1.0, 0.0]]


def copy_chain(src, dst):
    dst.mkdir()
    for f in ("sft.pt", "rm.pt"):
        shutil.copyfile(src / f, dst / f)
    return dst


@pytest.mark.requires_solutions
def test_ppo_dense_reward_runs_and_shapes_every_rollout(rm_chain_dir, tmp_path, monkeypatch):
    shaped = []
    real = train_ppo.shaping_rewards
    monkeypatch.setattr(train_ppo, "shaping_rewards", lambda *a: shaped.append(real(*a)) or shaped[-1])
    s = train_ppo.main(with_preset(train_ppo.Config, train_ppo.PRESETS, "test",
                                   out_dir=str(copy_chain(rm_chain_dir, tmp_path / "ppo")), dense_reward=True))
    assert len(shaped) == 3 and torch.isfinite(torch.tensor(s["gold_reward_ppo"]))        # one per iteration
    assert any(F.abs().sum() > 0 for F in shaped)
    off = []
    monkeypatch.setattr(train_ppo, "shaping_rewards", lambda *a: off.append(1))
    train_ppo.main(with_preset(train_ppo.Config, train_ppo.PRESETS, "test",
                               out_dir=str(copy_chain(rm_chain_dir, tmp_path / "off"))))
    assert off == []                                                                         # off by default


@pytest.mark.requires_solutions
def test_grpo_dense_reward_runs_with_process_advantages(rm_chain_dir, tmp_path, monkeypatch):
    calls = []
    real = train_grpo.process_advantages
    monkeypatch.setattr(train_grpo, "process_advantages", lambda *a: calls.append(a[3]) or real(*a))
    s = train_grpo.main(with_preset(train_grpo.Config, train_grpo.PRESETS, "test", advantage="grpo",
                                    out_dir=str(copy_chain(rm_chain_dir, tmp_path / "grpo")), dense_reward=True))
    assert calls == ["grpo"] * 3 and torch.isfinite(torch.tensor(s["gold_reward_grpo"]))


def test_grpo_dense_reward_needs_the_rm_and_a_group_mean():
    for bad in ({"reward": "verifier"}, {"advantage": "rloo"}):
        assert any("--dense-reward" in p for p in train_grpo.Config(dense_reward=True, **bad).problems())
    assert train_grpo.Config(dense_reward=True).problems() == []


@pytest.mark.requires_solutions
def test_the_experiment_runs_on_a_tiny_chain(rm_chain_dir, tmp_path):
    sys.path.insert(0, str(ROOT / "lessons" / "experiments"))
    import dense_reward
    args = dense_reward.parse_args(["--quick", "--out-dir", str(rm_chain_dir), "--work-dir", str(tmp_path),
                                    "--seeds", "0"], dense_reward.__doc__, "dense_reward", dense_reward.seeds_flag)
    out = dense_reward.main(args)
    assert set(out["arms"]) == {"ppo", "ppo_scratch", "grpo"} and out["seeds"] == [0]
    assert all(set(a) == {"terminal", "dense"} for a in out["arms"].values())
    assert all("no detectable" in c["text"] or "beats" in c["text"] for c in out["claim"].values())
    assert out["paired"]["ppo"]["0"]["n_prompts"] > 0
    assert (tmp_path / "dense_reward.png").stat().st_size > 1000 and (tmp_path / "dense_reward.json").exists()
    assert len({d.name for d in (tmp_path / "test").iterdir()}) == 6                    # six distinct cached runs
