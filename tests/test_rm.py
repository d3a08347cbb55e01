"""Stage 2: the Bradley-Terry loss, the score at the EOS, learning on a toy batch, errors, the test preset."""
import json
import math

import numpy as np
import pytest
import torch

import train_rm
from nano_rlhf.checkpoint import load_checkpoint
from nano_rlhf.common import UserError, with_preset
from nano_rlhf.data import encode_group, fit_groups, group_pairs, left_pad, pairs_of, right_pad
from nano_rlhf.model import GPTConfig, ValueModel, last_token_values


@pytest.mark.exercise("bt_loss")
def test_bt_loss_equals_a_hand_computation():
    rc, rr = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([1.0, 0.0, 1.0])
    expect = (math.log(1 + math.exp(-1.0)) + math.log(2.0) + math.log(1 + math.exp(2.0))) / 3
    assert abs(float(train_rm.bt_loss(rc, rr)) - expect) < 1e-6


@pytest.mark.exercise("bt_loss")
def test_a_few_steps_on_a_toy_batch_raise_the_margin():
    torch.manual_seed(0)
    vm = ValueModel(GPTConfig(block_size=16, vocab_size=20, n_layer=1, n_head=2, n_embd=16))
    chosen, rejected = torch.randint(0, 18, (8, 6)), torch.randint(0, 18, (8, 6))
    opt = torch.optim.Adam(vm.parameters(), lr=1e-2)
    margins = []
    for _ in range(20):
        rc, rr = vm(chosen)[:, -1], vm(rejected)[:, -1]
        margins.append(float((rc - rr).mean().detach()))
        loss = train_rm.bt_loss(rc, rr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert margins[-1] > margins[0] + 1.0


def test_skill_is_the_way_from_chance_to_the_ceiling_with_a_bootstrap_se():
    rm = np.array([1, 1, 1, 0, 0.5, 1, 0, 1])        # the RM agrees with 5.5 of 8 labels
    gold = np.array([1, 1, 1, 1, 0, 1, 1, 1])        # gold agrees with 7 of 8
    skill, _ = train_rm.skill_vs_ceiling(rm, gold, range(8))
    assert skill == pytest.approx((5.5 / 8 - 0.5) / (7 / 8 - 0.5))
    # large sample: the bootstrap SE matches the delta method's for a ratio of two correlated means
    rng = np.random.default_rng(1)
    gold = (rng.random(4000) < 0.8).astype(float)
    rm = np.where(rng.random(4000) < 0.85, gold, 1 - gold)
    s, se = train_rm.skill_vs_ceiling(rm, gold, range(4000))   # every pair its own prompt
    a, b = rm - 0.5, gold - 0.5                      # skill = mean(a) / mean(b)
    grad = np.array([1 / b.mean(), -a.mean() / b.mean() ** 2])
    delta_se = float(np.sqrt(grad @ np.cov(np.stack([a, b])) @ grad / len(a)))
    assert se == pytest.approx(delta_se, rel=0.1)


def test_skill_is_undefined_where_the_ceiling_is_at_chance():
    """A ceiling at chance leaves no room to measure skill in: NaN (null in the summary), not a huge number, and
    resamples whose ceiling is at chance are left out of the SE."""
    skill, _ = train_rm.skill_vs_ceiling([1, 0, 1, 0], [1, 0, 1, 0], range(4))    # ceiling 0.5
    assert math.isnan(skill)
    rm, gold = [1, 1, 0, 1, 1, 0], [1, 1, 1, 1, 0, 0]                          # ceiling 4/6, 6 prompts
    skill, se = train_rm.skill_vs_ceiling(rm, gold, range(6), n_boot=2000)
    assert skill == pytest.approx((4 / 6 - 0.5) / (4 / 6 - 0.5)) and math.isfinite(se) and se < 10


@torch.no_grad()
class CharTok:
    """One id per character, EOS 0: enough for group_pairs, which only encodes."""
    eos_id = 0

    def encode(self, text):
        return [ord(c) for c in text]


def test_a_data_files_pairs_are_regrouped_as_train_rm_wrote_them():
    # p's comparisons of a, b, c (written together, each sharing a response with those before); then q's pair; then
    # p again with new responses (another group of samples) and a pair that shares one of them
    pairs = [("p", "a", "b"), ("p", "c", "a"), ("p", "b", "c"), ("q", "x", "y"), ("p", "d", "e"), ("p", "e", "a")]
    groups = group_pairs(CharTok(), pairs)
    assert [g[0] for g in groups] == ["p", "q", "p"]
    assert groups[0][1] == [[97, 0], [98, 0], [99, 0]] and groups[0][2] == [(0, 1), (2, 0), (1, 2)]   # a, b, c once
    assert groups[1][2] == [(0, 1)]
    assert groups[2][1] == [[100, 0], [101, 0], [97, 0]] and groups[2][2] == [(0, 1), (1, 2)]
    decoder = type("T", (), {"decode": lambda self, ids: "".join(map(chr, ids[:-1]))})()
    assert pairs_of(groups, decoder) == pairs                  # nothing lost, nothing reordered


def test_a_response_too_long_for_the_block_leaves_its_group_with_its_comparisons():
    # prompt "p" (1 token) + responses of 2, 5 and 3 tokens in a block of 4: the second goes, and the indices follow
    groups = [("p", [[1, 0], [1, 2, 3, 4, 0], [5, 6, 0]], [(0, 1), (2, 0), (1, 2)])]
    out, dropped = fit_groups(CharTok(), groups, block_size=4)
    assert dropped == 2 and out == [("p", [[1, 0], [5, 6, 0]], [(1, 0)])]


def test_score_is_taken_at_the_eos_whatever_the_padding():
    torch.manual_seed(0)
    vm = ValueModel(GPTConfig(block_size=32, vocab_size=20, n_layer=2, n_head=2, n_embd=16)).eval()
    EOS, PAD = 18, 19
    seqs = [[1, 2, 3, 4, 5, EOS], [6, 7, EOS], [8, 9, 10, 11, EOS]]
    alone = [float(vm(torch.tensor([s]))[0, -1]) for s in seqs]      # the value at the EOS, no padding at all
    r_idx, r_mask = right_pad(seqs, PAD)
    right = last_token_values(vm(r_idx), r_mask)
    l_idx, l_mask = left_pad(seqs, PAD)
    left = last_token_values(vm(l_idx, l_mask), l_mask)
    extra = right_pad([s + [PAD, PAD, PAD] for s in seqs], PAD)[0]   # more right pads change nothing either
    more = last_token_values(vm(extra), torch.cat([r_mask, torch.zeros(3, 3, dtype=torch.long)], 1))
    for got in (right, left, more):
        assert torch.allclose(got, torch.tensor(alone), atol=1e-5)


def test_missing_or_wrong_stage_checkpoint_is_a_one_line_error(tmp_path, chain_dir):
    cfg = with_preset(train_rm.Config, train_rm.PRESETS, "test", out_dir=str(tmp_path))
    with pytest.raises(UserError, match=r"sft\.pt not found: run `python train_sft.py` first"):
        train_rm.main(cfg)
    (tmp_path / "sft.pt").write_bytes((chain_dir / "sft.pt").read_bytes())
    ck = torch.load(tmp_path / "sft.pt", weights_only=True)
    ck["stage"] = "ppo"
    torch.save(ck, tmp_path / "sft.pt")
    with pytest.raises(UserError, match="is a 'ppo' checkpoint, expected 'sft'"):
        train_rm.main(cfg)


@pytest.mark.requires_solutions
def test_test_preset_runs_end_to_end(rm_chain_dir):
    ckpt = load_checkpoint(str(rm_chain_dir / "rm.pt"), "rm")
    sft = load_checkpoint(str(rm_chain_dir / "sft.pt"), "sft")
    assert ckpt["parents"] == {"sft": sft["id"]} and set(ckpt["reward_norm"]) == {"gain", "bias"}
    s = json.loads((rm_chain_dir / "rm_summary.json").read_text())
    for key in ("val_accuracy", "labeler_accuracy", "gold_order_accuracy", "gold_correlation", "n_pairs",
                "wall_seconds"):
        assert key in s
    assert {"pearson", "spearman"} <= set(s["gold_correlation"])
    lines = (rm_chain_dir / "preferences.jsonl").read_text().splitlines()
    assert len(lines) == s["n_pairs"] and set(json.loads(lines[0])) == {"prompt", "chosen", "rejected"}


# ----------------------------------------------------------------------------------------------------------------
# lessons/experiments/rm_limits.py: what limits the RM (lesson 4)

def rm_limits():
    import sys
    from pathlib import Path
    path = str(Path(__file__).resolve().parents[1] / "lessons" / "experiments")
    if path not in sys.path:
        sys.path.insert(0, path)
    import rm_limits
    return rm_limits


def test_rm_limits_sorts_responses_the_way_gold_reads_them():
    from nano_rlhf.world import World
    world, limits = World(0), rm_limits()
    p = next(q.text for q in world.train_prompts if q.fact.subject == "banana")
    s = next(q.text for q in world.train_prompts if q.fact.subject == "3 plus 4")
    cases = [(p, " The the banana is red. Are you dumb? Hope that helps!", "clean"),   # wrong and rude, but grammatical
             (p, " It is yellow or red.", "clean"),                                     # a hedge is a known sentence
             (p, " The bana is yellow.", "garbage"),
             (p, " The w go. Yellow.", "garbage"),
             (p, " The lemon is yellow.", "off-subject"),                               # another question's answer
             (p, " The dog says woof.", "off-subject"),
             (s, " 4 plus 3 is 7.", "clean"),                                           # gold accepts either order
             (s, " 3 plus 3 is 7.", "off-subject")]
    for prompt, response, kind in cases:
        assert limits.response_kind(world, prompt, response) == kind, response


def test_rm_limits_pair_metrics_match_a_hand_count():
    from nano_rlhf.world import World
    world, limits = World(0), rm_limits()
    from nano_rlhf.tokenizer import train_bpe
    p = next(q for q in world.test_prompts if q.fact.kind == "colour")
    right, wrong = " " + world.best_response(p.text).split(". ")[0] + ".", " I do not know. Are you dumb?"
    tok = train_bpe([p.text + right + wrong], 270)
    groups = [encode_group(tok, p.text, [right, wrong], [(0, 1)]),   # one label each way
              encode_group(tok, p.text, [right, wrong], [(1, 0)])]
    m = limits.pair_metrics(world, tok, groups, np.array([1.0, 0.0]), np.array([0.0, 1.0]))   # chosen, rejected
    # the RM prefers `right` both times: agrees with the first label only; gold (right > wrong) does the same
    assert (m["n"], m["val_accuracy"], m["labeler_accuracy"], m["gold_order_accuracy"]) == (2, 0.5, 0.5, 1.0)


def test_rm_limits_needs_sft_and_rm_and_runs_quick(rm_chain_dir, tmp_path):
    limits = rm_limits()
    with pytest.raises(UserError, match=r"sft\.pt not found: run `python train_sft.py` and then `python train_rm"):
        limits.main(limits.parse_args(["--out-dir", str(tmp_path)]))
    out = limits.main(limits.parse_args(["--quick", "--out-dir", str(rm_chain_dir)]))
    summary = json.loads((rm_chain_dir / "rm_summary.json").read_text())
    assert out["pairs"]["SFT samples"]["n"] > 0 and set(out["pairs"]) == {"SFT samples", "corpus draws"}
    assert sum(n for n, _ in out["sft_pairs_by_kind"].values()) > 0
    for probe in out["fact_probe"].values():
        assert {k: v["n"] for k, v in probe.items()} == {"colour": 16, "sound": 14, "sum": 10}
    assert summary["n_val_pairs"] > 0          # rm.pt and its summary are read, never rewritten
