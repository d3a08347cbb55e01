"""Dense rewards from the reward model: the RM scores every sentence prefix of a response (closed with EOS).

    python train_ppo.py --dense-reward     # sentence-level rewards (Wu et al. 2023), potential-based
    python train_grpo.py --dense-reward    # process supervision: one step per sentence (Shao et al. 2024, §4.1.3)

The RM was trained to score whole responses, each closed by the EOS. Closing a PREFIX of the response with the EOS
asks it how good the answer would be if it stopped there: that score is a potential Phi (Ng et al. 1999). With
Phi(empty) = RM(prompt + EOS) and Phi_k the score of the prompt + the response up to the end of its k-th sentence
+ EOS, sentence k's last token gets Phi_k - Phi_{k-1} and the last real token R - Phi_K (shaping_rewards
places them). The rewards of a response then sum to R - Phi(empty), a constant per prompt: the optimal policy is
the same, only the credit arrives earlier (Wu et al. 2023's fine-grained RLHF, with one RM instead of several).

A sentence ends at a response token whose text, stripped, ends with '.', '!' or '?'. When the last sentence ends
right before the EOS its prefix IS the response: its potential is the terminal score itself (not scored again),
so the EOS gets exactly 0. Everything here is per rank under torchrun: each rank scores its own rows.
"""
import torch

from nano_rlhf.model import last_token_values

SENTENCE_END = (".", "!", "?")


def sentence_end_table(tok) -> torch.Tensor:
    """(V,) bool: token id -> its text, stripped, ends a sentence. EOS and PAD never do."""
    return torch.tensor([i not in (tok.eos_id, tok.pad_id) and tok.decode([i]).strip().endswith(SENTENCE_END)
                         for i in range(tok.vocab_size)])


def sentence_ends(tokens, mask, table) -> torch.Tensor:
    """(B, T) response tokens, (B, T) mask -> (B, T) bool: the real tokens that end a sentence."""
    return table.to(tokens.device)[tokens] & mask.bool()


def closing_sentence(ends, mask, ended) -> torch.Tensor:
    """(B, T) bool: the sentence end right before a response's EOS, whose prefix + EOS IS the response."""
    last = mask.sum(1).long() - 1                                       # each row's last real token
    t = torch.arange(mask.size(1), device=mask.device)[None]
    return ends & ended[:, None] & (t == last[:, None] - 1)


def process_steps(ends, mask, ended) -> torch.Tensor:
    """Where process supervision's steps end (train_grpo.py --dense-reward): at every sentence end and at the last
    real token, the closing sentence's step extended to the EOS (one step, not a sentence and an empty EOS step).
    (B, T) bool, (B, T), (B,) -> (B, T) bool"""
    steps = ends & ~closing_sentence(ends, mask, ended)
    steps[torch.arange(mask.size(0)), mask.sum(1).long() - 1] = True
    return steps


def prefix_batch(seq, attn, n_prompt: int, cut, eos_id: int, pad_id: int):
    """The sequences to score: row r of the result is seq[rows[r]] kept up to response token cols[r] (-1: the prompt
    alone), then the EOS, then right padding.  seq, attn (B, P + T); cut (B, T) bool: where to cut.
    -> idx, mask (B + n_cut, P + T + 1), rows (B + n_cut,), cols (B + n_cut,); the first B rows are the empty responses.
    Left-padded prompts keep their padding (attention mask 0), so positions match the rollout's (model.position_ids)."""
    B, L = seq.shape
    rows, cols = cut.nonzero(as_tuple=True)
    rows = torch.cat([torch.arange(B, device=seq.device), rows])
    cols = torch.cat([torch.full((B,), -1, device=seq.device), cols])
    n_keep = n_prompt + cols + 1                                      # tokens before the EOS
    keep = torch.arange(L + 1, device=seq.device)[None] < n_keep[:, None]
    idx = torch.where(keep, torch.nn.functional.pad(seq, (0, 1), value=pad_id)[rows], pad_id)
    mask = torch.where(keep, torch.nn.functional.pad(attn, (0, 1))[rows], 0)
    at = torch.arange(rows.numel(), device=seq.device)
    idx[at, n_keep], mask[at, n_keep] = eos_id, 1
    return idx, mask, rows, cols


def prefix_potentials(rm, norm: dict, exp, tok, autocast):
    """The potentials of a rollout, by one batched RM pass over every sentence prefix closed with the EOS.
    exp: a train_ppo.Experience whose scores (B,) hold the terminal score (R, or the no-EOS penalty); norm: the RM's
    gain and bias, applied as to the terminal score.  -> phi (B, T): Phi of the prefix ending at each sentence's
    last token (0 elsewhere); phi_empty (B,): Phi of the prompt + EOS; ends (B, T) bool: the sentence ends."""
    mask = exp.mask
    ends = sentence_ends(exp.tokens, mask, sentence_end_table(tok))
    closes = closing_sentence(ends, mask, exp.ended)                    # its prefix is the response: Phi = R
    idx, attn, rows, cols = prefix_batch(exp.seq, exp.attn, exp.n_prompt, ends & ~closes, tok.eos_id, exp.pad_id)
    with torch.inference_mode(), autocast():
        v = (norm["gain"] * last_token_values(rm(idx, attn), attn) + norm["bias"]).float()
    B, v = mask.size(0), v.clone()                                     # a plain tensor again, outside inference mode
    phi = torch.where(closes, exp.scores[:, None], torch.zeros_like(mask))
    phi[rows[B:], cols[B:]] = v[B:]
    return phi, v[:B], ends


# [lesson:shaping]
def shaping_rewards(phi, phi_empty, ends, mask):
    """Sentence rewards as potential-based shaping (Wu et al. 2023; Ng et al. 1999): Phi_k - Phi_{k-1} on sentence
    k's last token, -Phi_K on the last real token, so that with the terminal score R a response's rewards sum to
    R - Phi(empty).  phi (B, T): potentials at the ends (B, T) bool; phi_empty (B,); mask (B, T) -> (B, T)"""
    # BEGIN SOLUTION
    at = torch.where(ends, torch.arange(1, ends.size(1) + 1, device=ends.device), 0).cummax(1).values
    latest = torch.cat([phi_empty[:, None], phi], 1).gather(1, at)            # Phi of the latest end <= t
    out = latest - torch.cat([phi_empty[:, None], latest[:, :-1]], 1)         # nonzero at the ends only
    last = mask.sum(1).long().clamp(min=1) - 1
    out[torch.arange(out.size(0)), last] -= latest.gather(1, last[:, None]).squeeze(1)
    return out
    # END SOLUTION
# [/lesson:shaping]
