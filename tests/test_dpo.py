"""DPO: the loss against hand computations, sequence log-probs against unpadded ones, the script end to end."""
import json
import math
from contextlib import nullcontext

import pytest
import torch

import train_dpo
from nano_rlhf.checkpoint import build_policy, load_checkpoint
from nano_rlhf.common import UserError, with_preset
from nano_rlhf.data import file_sha256
from nano_rlhf.model import GPT, GPTConfig


@pytest.mark.exercise("dpo_loss")
def test_dpo_loss_equals_a_hand_computation():
    logps_c, logps_r = torch.tensor([-3.0, -10.0]), torch.tensor([-5.0, -4.0])
    ref_c, ref_r = torch.tensor([-4.0, -9.0]), torch.tensor([-4.0, -6.0])
    # log-ratios: chosen +1, -1; rejected -1, +2 -> margins beta * (2, -3) with beta = 0.5 -> 1.0, -1.5
    expect = (math.log(1 + math.exp(-1.0)) + math.log(1 + math.exp(1.5))) / 2
    assert abs(float(train_dpo.dpo_loss(logps_c, logps_r, ref_c, ref_r, beta=0.5)) - expect) < 1e-6


@pytest.mark.exercise("dpo_loss")
def test_dpo_loss_is_log_2_when_the_policy_is_the_reference_and_its_gradient_favours_the_chosen():
    g = torch.Generator().manual_seed(0)
    ref_c, ref_r = -20 * torch.rand(6, generator=g), -20 * torch.rand(6, generator=g)
    for beta in (0.01, 0.1, 1.0):
        logps_c, logps_r = ref_c.clone().requires_grad_(), ref_r.clone().requires_grad_()
        loss = train_dpo.dpo_loss(logps_c, logps_r, ref_c, ref_r, beta)
        assert abs(loss.item() - math.log(2)) < 1e-6
        loss.backward()      # d loss / d log pi(y_w) = -beta * sigmoid(0) / B; +beta / (2 B) for y_l
        assert torch.allclose(logps_c.grad, torch.full((6,), -beta / 12)), logps_c.grad
        assert torch.allclose(logps_r.grad, torch.full((6,), beta / 12)), logps_r.grad


@pytest.mark.exercise("dpo_loss")
def test_a_few_dpo_steps_on_a_toy_batch_raise_the_margin():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=20, n_layer=1, n_head=2, n_embd=16))
    PAD, EOS = 19, 18
    data = [([1, 2, 3], [4, 5, EOS], [6, EOS]), ([7, 8], [9, EOS], [10, 11, 12, EOS]), ([13], [14, EOS], [15, EOS])]
    ref_c, ref_r = train_dpo.reference_logprobs(model, data, PAD, "cpu", nullcontext)   # pi_ref = the initial model
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    margins = []
    for _ in range(15):
        c, r = train_dpo.sequence_logprobs(model, data, PAD, "cpu", nullcontext)
        margins.append(((c - ref_c) - (r - ref_r)).mean().item())
        loss = train_dpo.dpo_loss(c, r, ref_c, ref_r, beta=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert abs(margins[0]) < 1e-5 and margins[-1] > 1.0, margins


@torch.no_grad()
def test_sequence_logprobs_sum_the_response_tokens_and_eos_whatever_the_padding():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=20, n_layer=2, n_head=2, n_embd=16)).eval()
    PAD, EOS = 19, 18
    data = [([1, 2, 3, 4], [5, EOS], [6, 7, 8, 9, EOS]), ([10], [11, 12, 13, EOS], [EOS])]
    c, r = train_dpo.sequence_logprobs(model, data, PAD, "cpu", nullcontext)

    def alone(prompt, response):    # one unpadded sequence: token t is predicted from position t - 1
        seq = torch.tensor([prompt + response])
        logits = model(seq)[0].float()
        logits[:, PAD] = float("-inf")          # PAD is never a token: out of the softmax, as generate leaves it
        logp = torch.log_softmax(logits, -1)
        return sum(float(logp[len(prompt) + i - 1, t]) for i, t in enumerate(response))

    for b, (p, ch, rj) in enumerate(data):
        assert abs(float(c[b]) - alone(p, ch)) < 1e-4 and abs(float(r[b]) - alone(p, rj)) < 1e-4


@pytest.mark.requires_solutions
def test_test_preset_runs_end_to_end(dpo_chain_dir):
    ckpt = load_checkpoint(str(dpo_chain_dir / "dpo.pt"), "dpo")
    sft = load_checkpoint(str(dpo_chain_dir / "sft.pt"), "sft")
    assert ckpt["parents"]["sft"] == sft["id"] and ckpt["model_config"] == sft["model_config"]
    assert ckpt["parents"]["preferences"] == file_sha256(dpo_chain_dir / "preferences.jsonl")[:12]
    build_policy(ckpt, "cpu")                                   # chat.py and the experiments load it like this
    s = json.loads((dpo_chain_dir / "dpo_summary.json").read_text())
    for key in ("gold_reward_sft", "gold_reward_dpo", "gold_reward_dpo_se", "gold_components_sft",
                "gold_components_dpo", "win_rate_vs_sft", "win_rate_vs_sft_se", "soft_win_rate_vs_sft", "kl",
                "rm_reward_dpo", "rm_reward_sft", "wall_seconds", "history"):
        assert key in s, key
    lines = (dpo_chain_dir / "preferences.jsonl").read_text().splitlines()
    assert s["n_pairs"] + s["pairs_dropped"] == len(lines)
    assert all(math.isfinite(x) for x in s["history"]["loss"]) and abs(s["history"]["loss"][0] - math.log(2)) < 1e-3
    assert (dpo_chain_dir / "dpo_curves.png").stat().st_size > 1000


@pytest.mark.requires_solutions
def test_own_data_file_and_no_reward_model(rm_chain_dir, tmp_path):
    (tmp_path / "sft.pt").write_bytes((rm_chain_dir / "sft.pt").read_bytes())      # no rm.pt: no RM fields
    prompt = json.loads((rm_chain_dir / "preferences.jsonl").read_text().splitlines()[0])["prompt"]
    rows = [{"prompt": prompt, "chosen": " The dog says woof.", "rejected": " Woof woof woof."}] * 8
    (tmp_path / "mine.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = train_dpo.main(with_preset(train_dpo.Config, train_dpo.PRESETS, "test", out_dir=str(tmp_path),
                                   data=str(tmp_path / "mine.jsonl"), eval_samples=8, epochs=4))
    assert s["n_pairs"] == 8 and "rm_reward_dpo" not in s and math.isfinite(s["kl"])
    assert len(s["history"]["margin"]) == 4 and s["history"]["margin"][-1] > 0.01    # one pair, learned quickly


def test_missing_files_are_one_line_errors(tmp_path, chain_dir):
    cfg = with_preset(train_dpo.Config, train_dpo.PRESETS, "test", out_dir=str(tmp_path))
    with pytest.raises(UserError, match=r"sft\.pt not found: run `python train_sft.py` first"):
        train_dpo.main(cfg)
    (tmp_path / "sft.pt").write_bytes((chain_dir / "sft.pt").read_bytes())
    with pytest.raises(UserError, match=r"preferences\.jsonl not found: run `python train_rm.py` first"):
        train_dpo.main(cfg)
    with pytest.raises(UserError, match=r"--data .*nope\.jsonl: no such file"):    # refused before any work
        train_dpo.main(with_preset(train_dpo.Config, train_dpo.PRESETS, "test", out_dir=str(tmp_path),
                                   data=str(tmp_path / "nope.jsonl")))
