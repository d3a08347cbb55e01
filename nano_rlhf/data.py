"""From strings to token tensors (SFT examples with a loss mask, padded batches), and reading user JSONL files."""
import json
import random

import torch

from nano_rlhf.tokenizer import Tokenizer


# [lesson:encode_sft]
def encode_sft(tok: Tokenizer, prompt: str, response: str, block_size: int):
    """Token ids of prompt + response + EOS, and a loss mask that is 1 only on the response tokens and the EOS.

    The prompt is context, not a target: the model is not trained to write user questions. The EOS is a target:
    it is how the model learns to stop. Too-long examples are cut from the right (the EOS may be lost).
    """
    p = tok.encode(prompt)
    r = tok.encode(response) + [tok.eos_id]
    ids = (p + r)[:block_size]
    mask = ([0] * len(p) + [1] * len(r))[:block_size]
    return ids, mask
# [/lesson:encode_sft]


# [lesson:sft_batches]
def sft_batches(examples, batch_size: int, pad_id: int, rng: random.Random, device, bucket: int = 16):
    """Endless shuffled batches of right-padded (ids, loss_mask) -> inputs (B, T), targets (B, T), mask (B, T).

    Batches group examples of similar length: each window of `bucket` batches is sorted by length before it is cut,
    then the batches are shuffled. On the default SFT data random batches are ~46% padding; buckets ~4%.
    Right padding keeps positions 0, 1, 2, ... for real tokens, and causal attention never lets a real token see
    the pads after it, so no attention mask is needed; the pads only have to be kept out of the loss.
    """
    order = list(range(len(examples)))
    window = batch_size * bucket
    while True:
        rng.shuffle(order)
        batches = []
        for w in range(0, len(order), window):
            chunk = sorted(order[w:w + window], key=lambda j: len(examples[j][0]))
            batches += [chunk[i:i + batch_size] for i in range(0, len(chunk) - batch_size + 1, batch_size)]
        rng.shuffle(batches)
        for b in batches:
            yield collate_sft([examples[j] for j in b], pad_id, device)


def collate_sft(batch, pad_id: int, device):
    T = max(len(ids) for ids, _ in batch)
    ids = torch.tensor([x + [pad_id] * (T - len(x)) for x, _ in batch])
    mask = torch.tensor([m + [0] * (T - len(m)) for _, m in batch])
    # predict token t+1 from tokens <= t: inputs drop the last token, targets and mask drop the first
    return ids[:, :-1].to(device), ids[:, 1:].to(device), mask[:, 1:].to(device)
# [/lesson:sft_batches]


def left_pad(seqs, pad_id: int, device=None):
    """Left-pad token lists to the batch's own longest one -> idx (B, P), attention_mask (B, P)."""
    P = max(len(s) for s in seqs)
    idx = torch.tensor([[pad_id] * (P - len(s)) + list(s) for s in seqs])
    mask = torch.tensor([[0] * (P - len(s)) + [1] * len(s) for s in seqs])
    return idx.to(device), mask.to(device)


def right_pad(seqs, pad_id: int, device=None):
    """Right-pad token lists -> idx (B, T), mask (B, T)."""
    T = max(len(s) for s in seqs)
    idx = torch.tensor([list(s) + [pad_id] * (T - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (T - len(s)) for s in seqs])
    return idx.to(device), mask.to(device)


def join_prompt_response(prompt_idx, prompt_mask, resp_idx, resp_mask):
    """Left-padded prompts (B, P) + right-padded responses (B, R) -> one sequence (B, P+R) and its mask."""
    return torch.cat([prompt_idx, resp_idx], 1), torch.cat([prompt_mask, resp_mask], 1)


class DataError(ValueError):
    """A malformed line in a user-supplied data file ("path:line: what is wrong")."""


# ------------------------------------------------------------------------------------------- user data files
def _read_jsonl(path, keys: tuple[str, ...]) -> list[tuple[str, ...]]:
    rows = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{lineno}: not UTF-8 ({e.reason})") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            for k in keys:
                if k not in obj:
                    raise DataError(f"{path}:{lineno}: missing key {k!r}")
                if not isinstance(obj[k], str):
                    raise DataError(f"{path}:{lineno}: {k!r} must be a string, got {type(obj[k]).__name__}")
            rows.append(tuple(obj[k] for k in keys))
    return rows


def load_sft_jsonl(path) -> list[tuple[str, str]]:
    """Read {"prompt": str, "response": str} lines; blank lines skipped."""
    return _read_jsonl(path, ("prompt", "response"))


def load_preference_jsonl(path) -> list[tuple[str, str, str]]:
    """Read {"prompt": str, "chosen": str, "rejected": str} lines; blank lines skipped."""
    return _read_jsonl(path, ("prompt", "chosen", "rejected"))
