"""Tests for the byte-level BPE tokenizer (hermetic: no network, no gpt2)."""
import io
import random

import pytest
import torch

from nano_rlhf.tokenizer import EOS_TEXT, PAD_TEXT, Tokenizer, train_bpe

CORPUS = [
    f"{who} {verb} the {what} {when}."
    for who in ["The cat", "A dog", "My friend", "Our teacher", "The children"]
    for verb in ["likes", "sees", "wants", "finds", "reads"]
    for what in ["book", "red apple", "garden", "window", "letter"]
    for when in ["today", "every morning", "at night", "after school"]
] + ["Numbers 123 and 4567, symbols!? and don't, we'll, it's.", "Caf\u00e9 na\u00efve \u65e5\u672c\u8a9e \U0001f600"]

SAMPLES = [
    "",
    "hello world",
    "The cat reads the book today.",
    "  leading, trailing and   multiple   spaces  \n\n\t tabs\r\n",
    "\U0001f44b\U0001f3fd family: \U0001f468\u200d\U0001f469\u200d\U0001f467 flags \U0001f1eb\U0001f1f7",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \u4e2d\u6587 \ud55c\uad6d\uc5b4",
    "e\u0301 a\u0308 Z\u0351\u0352\u0353 combining marks, \u0627\u0644\u0639\u0631\u0628\u064a\u0629, \u05e2\u05d1\u05e8\u05d9\u05ea",
    "special strings as text: <|endoftext|> <|pad|> <|im_start|>",
    "\x00\x01 control \x7f chars \u2028 \ufeff",
]


def random_text(rng: random.Random, n: int) -> str:
    ranges = [(0x20, 0x7E), (0x00, 0x7F), (0xA0, 0x2FF), (0x300, 0x36F), (0x4E00, 0x9FFF), (0x1F300, 0x1FAFF)]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return train_bpe(CORPUS, vocab_size=350)


@pytest.mark.parametrize("text", SAMPLES)
def test_roundtrip_unicode(tok, text):
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.decode_bytes(ids) == text.encode("utf-8")
    assert all(0 <= i < tok.vocab_size - 2 for i in ids)  # ordinary ids only


def test_roundtrip_random_strings(tok):
    rng = random.Random(1234)
    for _ in range(200):
        text = random_text(rng, rng.randint(0, 40))
        assert tok.decode(tok.encode(text)) == text


def test_encode_bytes_roundtrip_invalid_utf8(tok):
    rng = random.Random(0)
    cases = [b"", b"\xff\xfe\x80abc", b"abc\xff", b"\xc3", b"caf\xc3\xa9 \xc3", b"\xed\xa0\x80 surrogate",
             "\U0001f600".encode()[:3] + b" the cat", bytes(range(256))]
    cases += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))) for _ in range(200)]
    for data in cases:
        ids = tok.encode_bytes(data)
        assert tok.decode_bytes(ids) == data
        assert tok.eos_id not in ids and tok.pad_id not in ids


def test_encode_bytes_matches_encode_on_valid_utf8(tok):
    for text in SAMPLES:
        assert tok.encode_bytes(text.encode("utf-8")) == tok.encode(text)


def test_decode_replaces_invalid_utf8(tok):
    assert tok.decode(tok.encode_bytes(b"\xffabc")) == "\ufffdabc"


def test_special_tokens(tok):
    assert tok.eos_id != tok.pad_id
    assert (tok.eos_id, tok.pad_id) == (tok.vocab_size - 2, tok.vocab_size - 1)
    ids = tok.encode(f"{EOS_TEXT} {PAD_TEXT}{EOS_TEXT}")
    assert tok.eos_id not in ids and tok.pad_id not in ids
    assert tok.decode(ids) == f"{EOS_TEXT} {PAD_TEXT}{EOS_TEXT}"
    # decode drops EOS and PAD, wherever they are; accepts tensors too
    ids = [tok.pad_id] + tok.encode("hi there") + [tok.eos_id, tok.pad_id, tok.pad_id]
    assert tok.decode(ids) == "hi there"
    assert tok.decode(torch.tensor(ids)) == "hi there"
    assert tok.decode_bytes([tok.eos_id, tok.pad_id]) == b""


def test_training_is_deterministic():
    a, b = train_bpe(CORPUS, 320), train_bpe(list(CORPUS), 320)
    assert a.state_dict() == b.state_dict()


def test_vocab_size_respected():
    for v in (258, 259, 300, 400):
        t = train_bpe(CORPUS, v)
        assert t.vocab_size == v
        assert max(t.encode(" ".join(CORPUS))) < v - 2
    with pytest.raises(ValueError):
        train_bpe(CORPUS, 257)
    tiny = train_bpe(["ab"], 400)  # corpus runs out of pairs: smaller, still consistent
    assert tiny.vocab_size == 259 and tiny.encode("ab") == [256]


def test_merges_compress_training_corpus(tok):
    text = "\n".join(CORPUS)
    assert len(tok.encode(text)) < 0.5 * len(text.encode("utf-8"))
    assert len(tok.encode("The cat")) < len("The cat")


def test_state_dict_torch_roundtrip(tok):
    sd = tok.state_dict()

    def plain(x):  # only types the weights_only unpickler must accept
        if isinstance(x, dict):
            return all(isinstance(k, str) and plain(v) for k, v in x.items())
        if isinstance(x, list):
            return all(plain(v) for v in x)
        return isinstance(x, (str, int, bytes))

    assert plain(sd) and sd["name"] == "bpe"
    buf = io.BytesIO()
    torch.save({"tokenizer": sd}, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)["tokenizer"]
    t2 = Tokenizer.from_state_dict(loaded)
    assert t2.state_dict() == sd
    assert (t2.name, t2.vocab_size, t2.eos_id, t2.pad_id) == (tok.name, tok.vocab_size, tok.eos_id, tok.pad_id)
    rng = random.Random(7)
    for text in SAMPLES + CORPUS[:20] + [random_text(rng, 30) for _ in range(50)]:
        assert t2.encode(text) == tok.encode(text)
    assert t2.decode(list(range(t2.vocab_size))) == tok.decode(list(range(tok.vocab_size)))
