"""A tiny byte-level BPE tokenizer, trained on the task corpus, run by tiktoken.

Why not just ``tiktoken.get_encoding("gpt2")``? It downloads its vocabulary
on first use, which fails offline. So we learn our own, small vocabulary:

1. Pre-tokenise every text with the GPT-2 regex into chunks (words with their
   leading space, runs of digits, punctuation, whitespace). Merges never cross
   a chunk boundary, so " cat" and " cats" share tokens.
2. Start from the 256 single bytes (so *any* string -- emoji, CJK, even
   invalid UTF-8 -- is representable) and repeatedly merge the most frequent
   adjacent pair into a new token, until the vocabulary is full.
3. Hand the result to ``tiktoken.Encoding``: ranks 0..255 are the bytes, rank
   256+i the i-th merged token. tiktoken merges the lowest-rank pair first,
   which replays the merges in the order they were learned -- but in Rust, fast.

Two special tokens follow the ordinary ones: EOS ``<|endoftext|>`` at id
vocab_size-2 and PAD ``<|pad|>`` at vocab_size-1. They must differ: if pad
were EOS, every EOS in a padded batch would be masked out of the loss like
padding, and the model would never learn to stop.
"""
from collections import Counter, defaultdict

import regex  # a dependency of tiktoken; unlike `re` it knows \p{L} (any letter)
import tiktoken

EOS_TEXT = "<|endoftext|>"
PAD_TEXT = "<|pad|>"
# [lesson:split_pattern]
# The pre-tokenisation regex of GPT-2: contractions, optional space + letters,
# optional space + digits, optional space + other symbols, then whitespace.
GPT2_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# [/lesson:split_pattern]


class Tokenizer:
    """Thin wrapper over a ``tiktoken.Encoding`` with our EOS/PAD conventions."""

    def __init__(self, enc: tiktoken.Encoding, name: str, tokens: list[bytes] | None = None):
        self.enc, self.name = enc, name
        self._tokens = tokens  # ordinary tokens by rank (bpe only); for state_dict
        self.eos_id = enc.encode_single_token(EOS_TEXT)
        self.pad_id = enc.encode_single_token(PAD_TEXT)
        self.vocab_size = enc.n_vocab  # ordinary + special tokens
        assert self.eos_id != self.pad_id   # internal: _build and load_gpt2 make them differ

    def __repr__(self):
        return f"Tokenizer(name={self.name!r}, vocab_size={self.vocab_size})"

    def encode(self, text: str) -> list[int]:
        """Text -> ids. Special-token strings in `text` are treated as plain text,
        so user data can never inject an EOS or PAD."""
        return self.enc.encode_ordinary(text)

    def encode_bytes(self, data: bytes) -> list[int]:
        """Raw bytes (not necessarily valid UTF-8) -> ids, exactly invertible.

        Valid UTF-8 stretches go through `encode`; each invalid byte becomes its
        single-byte token. ``surrogateescape`` marks the invalid bytes for us: byte
        b becomes the lone surrogate chr(0xDC00 + b), which valid text never holds.
        """
        ids = []
        for part in regex.split(r"([\udc80-\udcff])", data.decode("utf-8", "surrogateescape")):
            if len(part) == 1 and 0xDC80 <= ord(part) <= 0xDCFF:
                ids.append(self.enc.encode_single_token(bytes([ord(part) - 0xDC00])))
            elif part:
                ids.extend(self.encode(part))
        return ids

    def _ordinary(self, ids) -> list[int]:
        ids = ids.tolist() if hasattr(ids, "tolist") else ids  # accept tensors too
        return [int(i) for i in ids if int(i) not in (self.eos_id, self.pad_id)]

    def decode_bytes(self, ids) -> bytes:
        """Ids -> the exact bytes they stand for (EOS and PAD dropped)."""
        return self.enc.decode_bytes(self._ordinary(ids))

    def decode(self, ids) -> str:
        """Ids -> text (EOS and PAD dropped). A model may emit a token sequence
        that is not valid UTF-8 (e.g. half an emoji); those bytes become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def state_dict(self) -> dict:
        """Plain data (str/int/bytes/list) that `torch.load(weights_only=True)` accepts."""
        if self.name == "gpt2":
            return {"name": "gpt2"}
        return {"name": self.name, "pattern": self.enc._pat_str, "tokens": list(self._tokens)}

    @classmethod
    def from_state_dict(cls, d: dict) -> "Tokenizer":
        if d["name"] == "gpt2":
            return load_gpt2()
        if d["name"] != "bpe":
            raise ValueError(f"unknown tokenizer {d['name']!r}")
        return _build(d["tokens"], d["pattern"])


# [lesson:build]
def _build(tokens: list[bytes], pattern: str = GPT2_SPLIT_PATTERN) -> Tokenizer:
    """Ordinary tokens listed by rank -> Tokenizer; EOS and PAD come right after."""
    n = len(tokens)
    enc = tiktoken.Encoding(
        name=f"nano-rlhf-bpe-{n + 2}",
        pat_str=pattern,
        mergeable_ranks={tok: rank for rank, tok in enumerate(tokens)},
        special_tokens={EOS_TEXT: n, PAD_TEXT: n + 1},
    )
    return Tokenizer(enc, "bpe", list(tokens))
# [/lesson:build]


def _merge(word: list[bytes], pair: tuple[bytes, bytes], new: bytes) -> list[bytes]:
    """Replace every non-overlapping occurrence of `pair` in `word` (left to right) by `new`."""
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


# [lesson:train_bpe]
def train_bpe(texts: list[str], vocab_size: int = 512) -> Tokenizer:
    """Learn a byte-level BPE vocabulary of `vocab_size` ids (including EOS and PAD).

    The result has exactly `vocab_size` ids unless the corpus runs out of pairs
    to merge first (only for tiny corpora), in which case it is smaller.

    Speed trick: a corpus of thousands of sentences has only a few thousand
    *distinct* chunks (" the" appears everywhere). We keep each distinct chunk once,
    as a list of tokens, with its count, and track pair counts incrementally:
    after a merge only the chunks containing the merged pair are re-counted.
    Ties between equally frequent pairs go to the smallest pair (by bytes), so
    training is deterministic.
    """
    if vocab_size < 258:
        raise ValueError("vocab_size must be >= 258 (256 bytes + EOS + PAD)")
    chunk_counts = Counter(c for t in texts for c in regex.findall(GPT2_SPLIT_PATTERN, t))
    words = [[bytes([b]) for b in c.encode("utf-8")] for c in chunk_counts]
    counts = list(chunk_counts.values())

    stats = Counter()              # pair -> weighted number of occurrences
    where = defaultdict(set)       # pair -> indices of words that (may) contain it
    for i, w in enumerate(words):
        for pair in zip(w, w[1:]):
            stats[pair] += counts[i]
            where[pair].add(i)

    tokens = [bytes([b]) for b in range(256)]
    known = set(tokens)
    while len(tokens) < vocab_size - 2 and stats:
        top = max(stats.values())  # most frequent pair; ties -> smallest pair
        pair = min(p for p, c in stats.items() if c == top)
        new = pair[0] + pair[1]
        if new not in known:  # two different merges can spell the same bytes
            tokens.append(new)
            known.add(new)
        for i in where.pop(pair):
            w = words[i]
            for p in zip(w, w[1:]):  # forget this word's old pairs...
                stats[p] -= counts[i]
                if stats[p] <= 0:
                    del stats[p]
            words[i] = w = _merge(w, pair, new)
            for p in zip(w, w[1:]):  # ...and count its new ones
                stats[p] += counts[i]
                where[p].add(i)
    return _build(tokens)
# [/lesson:train_bpe]


def load_gpt2() -> Tokenizer:
    """tiktoken's GPT-2 encoding (downloads on first use: needs internet).

    GPT-2 has EOS (id 50256) but no pad token, so we extend it with
    ``<|pad|>`` = 50257, giving vocab_size 50258.
    """
    try:
        base = tiktoken.get_encoding("gpt2")
    except Exception as e:   # offline: requests' connection errors, chained several deep
        from nano_rlhf.common import UserError
        raise UserError(f"the gpt2 tokenizer could not be loaded ({type(e).__name__}): tiktoken downloads it on "
                        "first use, which needs internet; use the default --tokenizer bpe (trained here, offline)"
                        ) from None
    enc = tiktoken.Encoding(
        name="gpt2-pad",
        pat_str=base._pat_str,
        mergeable_ranks=base._mergeable_ranks,
        special_tokens={**base._special_tokens, PAD_TEXT: base.n_vocab},
    )
    return Tokenizer(enc, "gpt2")
