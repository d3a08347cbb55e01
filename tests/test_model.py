"""The hand-written GPT: attention paths agree, padding is invisible, the KV cache changes nothing."""
import math

import pytest
import torch

from nano_rlhf.model import (GPT, GPTConfig, ValueModel, attention_bias, explicit_attention, generate,
                             last_token_values, position_ids, response_logits, token_logprobs)

EOS, PAD = 30, 31


def tiny(attn="sdpa", seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(block_size=48, vocab_size=32, n_layer=2, n_head=2, n_embd=16, attn=attn)).eval()


def left_pad(rows, pad=PAD):
    P = max(len(r) for r in rows)
    idx = torch.tensor([[pad] * (P - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (P - len(r)) + [1] * len(r) for r in rows])
    return idx, mask


@pytest.mark.exercise("attention")
def test_explicit_attention_matches_a_loop():
    torch.manual_seed(0)
    B, nh, T, hs = 2, 2, 5, 4
    q, k, v = torch.randn(3, B, nh, T, hs).unbind(0)
    mask = attention_bias(torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]]), T)
    out = explicit_attention(q, k, v, mask)
    for b in range(B):
        for h in range(nh):
            for t in range(T):
                if mask[b, 0, t].sum() == 1 and not mask[b, 0, t, t]:
                    continue
                w = [math.exp(float(q[b, h, t] @ k[b, h, s]) / math.sqrt(hs)) if mask[b, 0, t, s] else 0.0
                     for s in range(T)]
                expect = sum(wi * v[b, h, s] for s, wi in enumerate(w)) / sum(w)
                assert torch.allclose(out[b, h, t], expect, atol=1e-5)


@pytest.mark.exercise("attention")
def test_explicit_attention_equals_sdpa_in_the_model():
    a, b = tiny("explicit"), tiny("sdpa")
    idx, mask = left_pad([[1, 2, 3, 4, 5, 6], [7, 8, 9]])
    assert torch.allclose(a(idx, mask), b(idx, mask), atol=1e-5)
    full = torch.randint(0, 30, (2, 10))
    assert torch.allclose(a(full), b(full), atol=1e-5)


def test_position_ids_skip_left_pads():
    assert position_ids(torch.tensor([[0, 0, 1, 1, 1]])).tolist() == [[0, 0, 0, 1, 2]]


def test_left_padding_does_not_change_real_positions():
    model = tiny()
    rows = [[1, 2, 3, 4, 5, 6], [7, 8, 9]]
    idx, mask = left_pad(rows)
    batched = model(idx, mask)
    for i, r in enumerate(rows):
        alone = model(torch.tensor([r]))
        assert torch.allclose(batched[i, -len(r):], alone[0], atol=1e-5)


def _greedy_uncached_by_hand(model, prompt, n):
    seq = list(prompt)
    out = []
    for _ in range(n):
        nxt = int(model(torch.tensor([seq]))[0, -1].argmax())
        out.append(nxt)
        seq.append(nxt)
        if nxt == EOS:
            break
    return out


def test_cached_greedy_generation_equals_recomputing_the_context():
    model = tiny(seed=1)
    rows = [[1, 2, 3, 4, 5, 6], [7, 8, 9], [10]]
    idx, mask = left_pad(rows)
    cached = generate(model, idx, mask, 20, EOS, PAD, temperature=0)
    uncached = generate(model, idx, mask, 20, EOS, PAD, temperature=0, use_cache=False)
    assert torch.equal(cached.tokens, uncached.tokens)
    for i, r in enumerate(rows):   # and both equal a plain loop over one unpadded row at a time
        n = int(cached.mask[i].sum())
        assert cached.tokens[i, :n].tolist() == _greedy_uncached_by_hand(model, r, 20)[:n]


def test_sampled_logprobs_equal_a_fresh_forward_pass():
    model = tiny(seed=2)
    idx, mask = left_pad([[1, 2, 3, 4], [5, 6]])
    g = generate(model, idx, mask, 12, EOS, PAD, temperature=0.7, generator=torch.Generator().manual_seed(0))
    seq = torch.cat([idx, g.tokens], 1)
    full_mask = torch.cat([mask, g.mask], 1)
    lp = token_logprobs(response_logits(model, seq, full_mask, idx.size(1)), g.tokens, 0.7, pad_id=PAD)  # as sampled
    assert torch.allclose(lp * g.mask, g.logprobs, atol=1e-5)


def test_generation_stops_each_row_at_eos_and_pads_after():
    model = tiny(seed=3)
    with torch.no_grad():   # make EOS overwhelmingly likely after token 5 only
        model.lm_head.weight[EOS].zero_()
    idx, mask = left_pad([[1, 2], [3, 4, 5]])
    g = generate(model, idx, mask, 15, EOS, PAD, temperature=1.0, generator=torch.Generator().manual_seed(0))
    for i in range(2):
        n = int(g.mask[i].sum())
        row = g.tokens[i].tolist()
        if g.ended[i]:
            assert row[n - 1] == EOS and EOS not in row[:n - 1]
        assert all(t == PAD for t in row[n:])
        assert (g.logprobs[i, n:] == 0).all()


def test_scalar_head_init_and_last_token_value():
    torch.manual_seed(0)
    vm = ValueModel(GPTConfig(block_size=16, vocab_size=32, n_layer=1, n_head=2, n_embd=256))
    w = vm.head.linear.weight
    assert abs(float(w.detach().std()) - 1 / math.sqrt(257)) < 0.01 and float(vm.head.linear.bias.detach()) == 0.0
    values = torch.arange(12.0).view(2, 6)
    mask = torch.tensor([[0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    assert last_token_values(values, mask).tolist() == [3.0, 11.0]


def test_set_dropout_reaches_every_dropout_module():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=32, n_layer=2, n_head=2, n_embd=16, dropout=0.5)).train()
    x = torch.randint(0, 30, (2, 8))
    assert not torch.equal(model(x), model(x))          # dropout on: two passes differ
    model.set_dropout(0.0)
    assert torch.equal(model(x), model(x))              # off everywhere, even in train mode
