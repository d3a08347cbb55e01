"""A GPT-2-style decoder written out by hand, plus what RLHF needs on top of it.

    token + position embeddings -> n_layer x [LayerNorm -> causal self-attention -> +, LayerNorm -> MLP -> +]
    -> final LayerNorm -> LM head (tied to the token embedding)

RLHF-specific parts, each small:
  * left-padded batches: an attention mask (1 = real token, 0 = pad) and position ids that skip the pads, so
    prompts of different lengths share one batch (generation and PPO both need this);
  * a KV cache and `generate`, which also returns the log-probability of every sampled token;
  * `ScalarHead` / `ValueModel`: one number per position from the final hidden states (reward model, critic).

Shapes: B batch, T query length, S key length (past + new), C n_embd, nh heads, hs head size, V vocab.
"""
import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    block_size: int = 128     # longest sequence (prompt + response) the model will see
    vocab_size: int = 512     # tokenizer vocabulary, special tokens included
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True         # biases in Linear and LayerNorm layers, as in GPT-2
    attn: str = "sdpa"        # "sdpa" (fast, fused) or "explicit" (the formula written out; same numbers)


# ----------------------------------------------------------------------------------------------------------------
# Attention

# [lesson:attention]
def explicit_attention(q, k, v, mask):
    """softmax(q k^T / sqrt(hs) + mask) v, written out (Vaswani et al. 2017, eq. 1).

    q: (B, nh, T, hs)   k, v: (B, nh, S, hs)   mask: (B, 1, T, S) bool, True where query t may look at key s.
    Returns (B, nh, T, hs).
    """
    # BEGIN SOLUTION
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))       # (B, nh, T, S)
    scores = scores.masked_fill(~mask, float("-inf"))                 # no looking at the future or at pads
    weights = torch.softmax(scores.float(), dim=-1).to(q.dtype)       # each row sums to 1 over visible keys
    return weights @ v                                                # (B, nh, T, hs)
    # END SOLUTION
# [/lesson:attention]


# [lesson:kv_cache]
class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated to `max_len` positions."""

    def __init__(self, cfg: GPTConfig, batch_size: int, max_len: int, device, dtype):
        shape = (cfg.n_layer, batch_size, cfg.n_head, max_len, cfg.n_embd // cfg.n_head)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0   # positions filled so far

    def update(self, layer: int, k, v):
        """Write this step's k, v (B, nh, T, hs) after the cached ones; return all keys/values so far."""
        t0, t1 = self.length, self.length + k.size(2)
        self.k[layer, :, :, t0:t1] = k
        self.v[layer, :, :, t0:t1] = v
        return self.k[layer, :, :, :t1], self.v[layer, :, :, :t1]

    def keep(self, rows):
        """Keep only these batch rows (a bool mask or indices): generate drops the rows that have finished."""
        self.k, self.v = self.k[:, rows], self.v[:, rows]
# [/lesson:kv_cache]


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0, "n_embd must be divisible by n_head"   # internal: configs checked first
        self.cfg, self.layer = cfg, layer
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)   # q, k, v in one matmul
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, mask, cache: KVCache | None):
        B, T, C = x.shape
        nh = self.cfg.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, nh, C // nh).transpose(1, 2) for t in (q, k, v))   # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.update(self.layer, k, v)                                     # (B, nh, S, hs)
        if self.cfg.attn == "explicit":
            y = explicit_attention(q, k, v, mask)
        else:
            p = self.cfg.dropout if self.training else 0.0
            if mask is None:   # plain causal batch without padding: the fused kernel's fastest path
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
            else:
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)                               # re-assemble heads
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


# [lesson:block]
class Block(nn.Module):
    """Pre-LayerNorm transformer block (GPT-2): x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: GPTConfig, layer: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg, layer)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x, mask, cache):
        x = x + self.attn(self.ln_1(x), mask, cache)
        return x + self.mlp(self.ln_2(x))
# [/lesson:block]


# ----------------------------------------------------------------------------------------------------------------
# The GPT

@contextmanager
def fp32_matmul(device_type: str):
    """Autocast off and TF32 off: the heads (logits, values) in true fp32 under bf16 autocast.

    setup_runtime turns TF32 on for CUDA, and under autocast the only fp32 matmuls left are these heads; TF32
    would round their inputs to 10 mantissa bits. Only the forward pass is guarded (its numbers are what the
    log-probs, ratios and values are made of); the backward pass runs later, under the global setting.
    """
    tf32 = torch.backends.cuda.matmul.allow_tf32   # the API setup_runtime uses (torch refuses mixing old and new)
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.autocast(device_type=device_type, enabled=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32


# [lesson:padding]
def position_ids(attention_mask):
    """Positions that skip left pads: the first real token of every row is position 0.  (B, T) -> (B, T)"""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def attention_bias(attention_mask, query_len: int):
    """Boolean mask (B, 1, T, S): query t (the last T of S positions) sees key s if s <= t and s is not a pad.

    Every position also sees itself, so a pad query never has an empty row (which would give NaN); pad rows
    produce finite garbage that is never read.
    """
    S = attention_mask.size(1)
    causal = torch.ones(S, S, dtype=torch.bool, device=attention_mask.device).tril()[S - query_len:]  # (T, S)
    eye = torch.zeros_like(causal)
    eye[:, S - query_len:] = torch.eye(query_len, dtype=torch.bool, device=attention_mask.device)
    return (causal & attention_mask.bool()[:, None, None, :]) | eye                                     # (B,1,T,S)
# [/lesson:padding]


# [lesson:gpt]
class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg, i) for i in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight   # weight tying (Press & Wolf 2017; GPT-2)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by 1/sqrt(2 * n_layer)
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))
    # [/lesson:gpt]

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def set_dropout(self, p: float):
        """Change the dropout probability everywhere (RM and PPO turn it off: it would make log-probs, ratios
        and rewards noisy). The nn.Dropout modules keep the p they were built with, so set each of them."""
        self.cfg.dropout = p
        for m in self.modules():
            if isinstance(m, nn.Dropout):
                m.p = p

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())   # tied weights are counted once

    # [lesson:hidden_states]
    def hidden_states(self, idx, attention_mask=None, cache: KVCache | None = None, pos=None):
        """Final (post-LayerNorm) hidden states.  idx (B, T) -> (B, T, C)

        attention_mask (B, S): 1 for real tokens, 0 for pads, over ALL positions seen so far (cached + new).
        None means no padding. pos (B, T): position ids; by default derived from attention_mask.
        """
        B, T = idx.shape
        past = cache.length if cache is not None else 0
        if attention_mask is None:
            mask = None
            if pos is None:
                pos = torch.arange(past, past + T, device=idx.device).expand(B, T)
            if past > 0 or self.cfg.attn == "explicit":   # the fused causal shortcut needs T == S
                attention_mask = torch.ones(B, past + T, dtype=torch.long, device=idx.device)
        if attention_mask is not None:
            mask = attention_bias(attention_mask, T)
            if pos is None:
                pos = position_ids(attention_mask)[:, past:]
        assert past + T <= self.cfg.block_size, f"{past + T} tokens > block_size {self.cfg.block_size}"  # internal
        x = self.drop(self.wte(idx) + self.wpe(pos))   # (B, T, C)
        for block in self.blocks:
            x = block(x, mask, cache)
        if cache is not None:
            cache.length += T
        return self.ln_f(x)
    # [/lesson:hidden_states]

    def forward(self, idx, attention_mask=None, cache: KVCache | None = None, pos=None):
        """Next-token logits, fp32 even under bf16 autocast.  idx (B, T) -> (B, T, V)"""
        h = self.hidden_states(idx, attention_mask, cache, pos)
        # The head in full fp32: bf16 logits keep 8 significant bits, so a logit of 10 is off by up to 0.03, and
        # two passes over the same tokens (KV-cache sampling, a full forward pass, another batch shape) round
        # differently. PPO's ratio and DPO's log pi - log pi_ref subtract such log-probs (lessons/05-ppo.md).
        with fp32_matmul(h.device.type):
            return self.lm_head(h.float())


# ----------------------------------------------------------------------------------------------------------------
# Log-probabilities and generation

# [lesson:token_logprobs]
def without_pad(logits, pad_id: int | None):
    """The PAD column set to -inf (None: unchanged).  (..., V) -> (..., V)

    PAD is padding, never a token to say, but the model still gives it a logit: generate leaves it out of the
    distribution it samples from, and every log-prob of a sampled token must leave it out too, or the ratio
    pi / pi_old is not 1 before the first update.
    """
    if pad_id is None:
        return logits
    return logits.masked_fill(torch.arange(logits.size(-1), device=logits.device) == pad_id, float("-inf"))


def token_logprobs(logits, targets, temperature: float = 1.0, pad_id: int | None = None):
    """log softmax(logits / T)[target], in fp32 (also under bf16 autocast).  (B, T, V), (B, T) -> (B, T)

    Dividing by the sampling temperature everywhere (sampling, old, new and reference log-probs) keeps the
    ratios and the KL about the distribution the tokens were actually drawn from (Huang et al. 2023, detail 3).
    For the same reason pad_id leaves PAD out of the softmax, as generate does; a PAD target (padding after an
    EOS, never sampled) then gets log-prob 0, as in generate's output, instead of -inf.
    """
    logp = F.log_softmax(without_pad(logits.float(), pad_id) / temperature, dim=-1)
    lp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return lp if pad_id is None else lp.masked_fill(targets == pad_id, 0.0)
# [/lesson:token_logprobs]


def entropy_from_logits(logits, temperature: float = 1.0, pad_id: int | None = None):
    """Entropy of softmax(logits / T) in nats, fp32; pad_id as in token_logprobs.  (B, T, V) -> (B, T)"""
    logp = F.log_softmax(without_pad(logits.float(), pad_id) / temperature, dim=-1)
    p = logp.exp()
    return -(p * logp.masked_fill(p == 0, 0.0)).sum(-1)   # 0 log 0 = 0 (the PAD column: p = 0, log p = -inf)


def response_logits(model: GPT, seq, attention_mask, n_prompt: int):
    """Logits that predict the response tokens seq[:, n_prompt:], i.e. from positions n_prompt-1 .. T-2.

    Token t is predicted by the hidden state at position t-1: the classic off-by-one of RLHF code.
    seq (B, T), attention_mask (B, T) -> (B, T - n_prompt, V)
    """
    logits = model(seq[:, :-1], attention_mask[:, :-1])
    return logits[:, n_prompt - 1:]


def response_values(critic, seq, attention_mask, n_prompt: int):
    """Critic values V(s_t) for the response tokens: the value of token t is read at position t-1, the state
    from which token t is chosen (the same alignment as response_logits).  (B, T) -> (B, T - n_prompt)"""
    return critic(seq[:, :-1], attention_mask[:, :-1])[:, n_prompt - 1:]


@dataclass
class Generation:
    tokens: torch.Tensor     # (B, N) sampled tokens; pad after a row's EOS
    logprobs: torch.Tensor   # (B, N) fp32 log-prob each token was sampled with; 0 after EOS
    mask: torch.Tensor       # (B, N) 1 for real response tokens (up to and including EOS), else 0
    ended: torch.Tensor      # (B,) bool: the row emitted EOS within max_new_tokens


# [lesson:generate]
@torch.no_grad()
def generate(model: GPT, idx, attention_mask, max_new_tokens: int, eos_id: int, pad_id: int,
             temperature: float = 1.0, top_k: int | None = None, generator: torch.Generator | None = None,
             use_cache: bool = True) -> Generation:
    """Sample continuations of left-padded prompts idx (B, P) with attention_mask (B, P).

    temperature 0 means greedy (log-probs then at temperature 1). PAD is never sampled: its logit is set to -inf
    first, so the log-probs are those of the distribution over the other tokens (token_logprobs(..., pad_id)
    recomputes them). top_k is for chatting only: RLHF sampling uses the full softmax, since truncation biases
    log-prob ratios and the KL. With top_k the returned log-probs are those of the truncated distribution
    actually sampled from. use_cache=False recomputes the whole context every step (the baseline the KV cache
    is measured and tested against). Under autocast the cache holds k, v in the autocast dtype (bf16: half the
    memory of fp32), the dtype the attention layers produce them in.
    """
    B, P = idx.shape
    device = idx.device
    n_max = min(max_new_tokens, model.cfg.block_size - P)
    if n_max < 1:
        raise ValueError(f"a prompt of {P} tokens leaves no room for a response in block_size {model.cfg.block_size}"
                         f" (max_new_tokens {max_new_tokens})")
    dtype = (torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type)
             else next(model.parameters()).dtype)
    cache = KVCache(model.cfg, B, P + n_max, device, dtype) if use_cache else None
    mask = attention_mask.long()
    pos = position_ids(mask)[:, -1:]                          # (B, 1) position of the last prompt token
    seq, inp = idx, idx
    tokens = torch.full((B, n_max), pad_id, dtype=torch.long, device=device)   # PAD after a row's EOS
    logprobs = torch.zeros(B, n_max, device=device)
    ended = torch.zeros(B, dtype=torch.bool, device=device)
    rows = torch.arange(B, device=device)   # the rows still sampling: a row that emits EOS leaves the batch, so
    T = max(temperature, 1e-8) if temperature > 0 else 1.0   # a batch costs its live rows, not its longest one
    for i in range(n_max):
        if use_cache:
            logits = model(inp, mask, cache, pos=None if i == 0 else pos)[:, -1]   # (b, V), b live rows
        else:
            logits = model(seq, mask)[:, -1]
        logits = without_pad(logits.float(), pad_id) / T      # PAD is padding, never sampled
        if top_k is not None:
            kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        logp = F.log_softmax(logits, dim=-1)                  # (b, V)
        if temperature > 0:
            nxt = torch.multinomial(logp.exp(), 1, generator=generator)   # (b, 1)
        else:
            nxt = logp.argmax(-1, keepdim=True)
        tokens[rows, i] = nxt.squeeze(-1)
        logprobs[rows, i] = logp.gather(-1, nxt).squeeze(-1)
        live = nxt.squeeze(-1) != eos_id
        ended[rows[~live]] = True
        if not live.any():
            break
        if not live.all():                                    # drop the rows that just ended, everywhere
            rows, nxt, mask, pos, seq = rows[live], nxt[live], mask[live], pos[live], seq[live]
            if cache is not None:
                cache.keep(live)
        mask = torch.cat([mask, torch.ones_like(nxt)], dim=1)
        pos = pos + 1
        inp = nxt
        seq = torch.cat([seq, inp], dim=1)
    n = i + 1                                                 # steps taken
    tokens, logprobs = tokens[:, :n], logprobs[:, :n]
    return Generation(tokens, logprobs, (tokens != pad_id).long(), ended)   # PAD is never sampled: pads = after
# [/lesson:generate]


# ----------------------------------------------------------------------------------------------------------------
# Scalar head: reward model and critic

# [lesson:scalar_head]
class ScalarHead(nn.Module):
    """One number per position from the final hidden states: (B, T, C) -> (B, T).

    Init N(0, 1/sqrt(C + 1)), bias 0, as in Ziegler et al. 2019 (openai/lm-human-preferences).
    `fold_affine` bakes a reward normalisation r -> gain * r + bias into the weights (the PPO critic uses it).
    """

    def __init__(self, n_embd: int):
        super().__init__()
        self.linear = nn.Linear(n_embd, 1)
        nn.init.normal_(self.linear.weight, std=1.0 / math.sqrt(n_embd + 1))
        nn.init.zeros_(self.linear.bias)

    def forward(self, h):
        with fp32_matmul(h.device.type):   # values and rewards stay fp32 (no autocast, no TF32)
            return self.linear(h.float()).squeeze(-1)

    @torch.no_grad()
    def fold_affine(self, gain: float, bias: float):
        """Make the head output gain * r + bias (used to fold an RM's normalisation into a critic)."""
        self.linear.weight.mul_(gain)
        self.linear.bias.mul_(gain).add_(bias)
# [/lesson:scalar_head]


class ValueModel(nn.Module):
    """A GPT trunk with a scalar head: the reward model (score at the EOS) and the PPO critic (every position)."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.gpt = GPT(cfg)
        self.head = ScalarHead(cfg.n_embd)

    def forward(self, idx, attention_mask=None):
        """(B, T) -> (B, T) fp32 values"""
        return self.head(self.gpt.hidden_states(idx, attention_mask)).float()


def last_token_values(values, attention_mask):
    """The value at each row's last real token (the EOS of a finished response).  (B, T), (B, T) -> (B,)

    With left-padded prompts and right-padded responses the last real token is the last 1 in the mask.
    """
    T = attention_mask.size(1)
    idx = T - 1 - attention_mask.flip(-1).long().argmax(-1)   # index of the last 1 in each row
    return values.gather(1, idx[:, None]).squeeze(1)
