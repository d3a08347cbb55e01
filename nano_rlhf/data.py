"""From strings to token tensors (SFT examples with a loss mask, padded batches, the RM's comparison groups), and
reading user JSONL files."""
import hashlib
import json
import os
import random

import torch

from nano_rlhf.files import atomic_write, write_json
from nano_rlhf.tokenizer import Tokenizer


# [lesson:encode_sft]
def encode_sft(tok: Tokenizer, prompt: str, response: str, block_size: int):
    """Token ids of prompt + response + EOS, and a loss mask that is 1 only on the response tokens and the EOS.

    The prompt is context, not a target: the model is not trained to write user questions. The EOS is a target:
    it is how the model learns to stop. An example longer than block_size is cut from the right (the EOS is then
    lost); encode_sft_examples drops such examples instead, and counts them.
    """
    p = tok.encode(prompt)
    r = tok.encode(response) + [tok.eos_id]
    ids = (p + r)[:block_size]
    mask = ([0] * len(p) + [1] * len(r))[:block_size]
    return ids, mask
# [/lesson:encode_sft]


def encode_sft_examples(tok: Tokenizer, pairs, block_size: int):
    """encode_sft for every (prompt, response); examples longer than block_size are dropped (a cut one would
    teach a response without its EOS) -> examples, number dropped."""
    out, dropped = [], 0
    for p, r in pairs:
        if len(tok.encode(p)) + len(tok.encode(r)) + 1 > block_size:
            dropped += 1
        else:
            out.append(encode_sft(tok, p, r, block_size))
    return out, dropped


# [lesson:sft_batches]
def sft_batches(examples, batch_size: int, pad_id: int, rng: random.Random, device, bucket: int = 16):
    """Endless shuffled batches of right-padded (ids, loss_mask) -> inputs (B, T), targets (B, T), mask (B, T).

    Batches group examples of similar length: each window of `bucket` batches is sorted by length before it is cut,
    then the batches are shuffled. On the default SFT data random batches are ~46% padding; buckets ~4%. The
    last batch of a window may be smaller: every example is seen once per pass, the longest ones too.
    Right padding keeps positions 0, 1, 2, ... for real tokens, and causal attention never lets a real token see
    the pads after it, so no attention mask is needed; the pads only have to be kept out of the loss.
    """
    if not examples or batch_size < 1:
        raise ValueError("sft_batches needs at least one example and a positive batch size")
    order = list(range(len(examples)))
    window = batch_size * bucket
    while True:
        rng.shuffle(order)
        batches = []
        for w in range(0, len(order), window):
            chunk = sorted(order[w:w + window], key=lambda j: len(examples[j][0]))
            batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]   # the last may be short
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
    """A problem in a user-supplied data file ("path:line: what is wrong"): one line, exit code 2."""


# ------------------------------------------------------------------------------------------- user data files
# Comparison groups, the reward model's data: (prompt, [response token ids, EOS included], [(chosen index,
# rejected index), ...]); every response of a group is scored once for all its comparisons (train_rm.py).


def encode_group(tok, prompt: str, texts: list[str], comparisons):
    """A group of response texts (a user's file, a probe's pairs) -> the (prompt, ids, comparisons) groups hold."""
    return prompt, [tok.encode(t) + [tok.eos_id] for t in texts], comparisons


def group_pairs(tok, pairs):
    """(prompt, chosen, rejected) text triples (a --data file) -> groups: a pair joins the group before it when it
    has the same prompt and shares a response with it, so the k(k-1)/2 comparisons of k samples, written together
    in preferences.jsonl, become one group again, each response scored once (InstructGPT's trick, as for sampled
    pairs); other pairs start a group of their own."""
    groups = []
    for p, c, r in pairs:
        if not groups or groups[-1][0] != p or (c not in groups[-1][1] and r not in groups[-1][1]):
            groups.append((p, [], []))
        _, texts, comparisons = groups[-1]
        for t in (c, r):
            if t not in texts:
                texts.append(t)
        comparisons.append((texts.index(c), texts.index(r)))
    return [encode_group(tok, p, texts, comparisons) for p, texts, comparisons in groups]


def fit_groups(tok, groups, block_size: int):
    """Leave out the responses whose prompt + response (EOS included) is longer than the model's block, with their
    comparisons (a user's long pairs) -> groups, n dropped."""
    out, dropped = [], 0
    for prompt, responses, comparisons in groups:
        n_p = len(tok.encode(prompt))
        fits = [n_p + len(ids) <= block_size for ids in responses]
        index = {old: new for new, old in enumerate(i for i, f in enumerate(fits) if f)}   # the responses kept
        kept = [(index[c], index[r]) for c, r in comparisons if fits[c] and fits[r]]
        dropped += len(comparisons) - len(kept)
        if kept:
            out.append((prompt, [ids for ids, f in zip(responses, fits) if f], kept))
    return out, dropped


def pairs_of(groups, tok):
    """Flatten groups to (prompt, chosen, rejected) text triples (the preferences.jsonl format)."""
    return [(p, tok.decode(rs[c]), tok.decode(rs[r])) for p, rs, comps in groups for c, r in comps]


def _read_jsonl(path, keys: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Rows of JSON objects with string values for `keys`. Legitimate variations are read (a UTF-8 byte-order
    mark, CRLF line ends, blank lines, extra keys); anything else is a DataError naming the file and line."""
    rows = []
    try:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                row = _parse_line(path, lineno, raw, keys)
                if row is not None:
                    rows.append(row)
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or type(e).__name__})") from None
    return rows


def _parse_line(path, lineno: int, raw: bytes, keys):
    where = f"{path}:{lineno}"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{where}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if lineno == 1:
        line = line.removeprefix("\ufeff")               # a byte-order mark some editors write
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as e:            # JSONDecodeError, a 5,000-digit number, deep nesting
        msg = (f"{e.msg} column {e.colno}" if isinstance(e, json.JSONDecodeError) else
               "nested too deeply" if isinstance(e, RecursionError) else str(e).split(";")[0])
        raise DataError(f"{where}: invalid JSON ({msg})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object with keys {', '.join(keys)}, got {type(obj).__name__}")
    for k in keys:
        if k not in obj:
            raise DataError(f"{where}: missing key {k!r}")
        if not isinstance(obj[k], str):
            raise DataError(f"{where}: {k!r} must be a string, got {type(obj[k]).__name__}")
        try:
            obj[k].encode("utf-8")
        except UnicodeEncodeError:
            raise DataError(f"{where}: {k!r} holds a lone surrogate escape (\\ud8xx), which is not text") from None
    if not obj[keys[0]].strip():
        raise DataError(f"{where}: empty {keys[0]!r}")
    return tuple(obj[k] for k in keys)


def load_sft_jsonl(path) -> list[tuple[str, str]]:
    """Read {"prompt": str, "response": str} lines; blank lines skipped."""
    return _read_jsonl(path, ("prompt", "response"))


def load_preference_jsonl(path) -> list[tuple[str, str, str]]:
    """Read {"prompt": str, "chosen": str, "rejected": str} lines; blank lines skipped."""
    return _read_jsonl(path, ("prompt", "chosen", "rejected"))


# ------------------------------------------------------------------------- preference pairs and their sidecar
def meta_path(path: str) -> str:
    """prefs.jsonl -> prefs.meta.json: where train_rm.py records who sampled and who labelled the pairs."""
    return (path[:-len(".jsonl")] if path.endswith(".jsonl") else path) + ".meta.json"


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_preferences(path: str, pairs, meta: dict):
    """preferences.jsonl and its sidecar, each written atomically; the sidecar records the file's hash."""
    with atomic_write(path) as f:
        for p, c, r in pairs:
            f.write(json.dumps({"prompt": p, "chosen": c, "rejected": r}) + "\n")
    write_json(meta_path(path), {**meta, "n_pairs": len(pairs), "sha256": file_sha256(path)})


def read_preference_meta(path: str) -> tuple[dict | None, str]:
    """The sidecar of a preference file -> (meta or None, why None). A sidecar whose hash does not match the file
    describes other pairs: then None too."""
    mp = meta_path(path)
    if not os.path.exists(mp):
        return None, f"it has no sidecar {mp}"
    if not os.path.isfile(mp):
        raise DataError(f"{mp}: not a regular file; delete it or re-run `python train_rm.py`")
    try:
        with open(mp, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        raise DataError(f"{mp}: unreadable ({type(e).__name__}); delete it or re-run `python train_rm.py`") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("sampler", 0), (str, type(None))):
        raise DataError(f"{mp}: not a preference sidecar (no 'sampler'); delete it or re-run `python train_rm.py`")
    try:
        same = meta.get("sha256") == file_sha256(path)
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or type(e).__name__})") from None
    if not same:
        return None, f"it was changed after {mp} was written"
    return meta, ""
