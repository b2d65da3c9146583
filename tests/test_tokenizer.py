"""Tests for minigpt.tokenizer: small hand-checked reference values plus round trips."""

import json

import numpy as np
import pytest
from pydoc_data.topics import topics

from minigpt.tokenizer import (
    BYTE_OFFSET,
    FIRST_MERGE_ID,
    SPECIAL_TOKENS,
    BPETokenizer,
    CharTokenizer,
    FastBPETokenizer,
    get_pair_counts,
    load_tokenizer,
    merge,
    split_text,
    tokenizer_from_dict,
    train_tokenizer,
)

KINDS = ["char", "bpe", "fast-bpe"]

SAMPLES = [
    "Hello, world! It's 2024.",
    "你好，世界！机器学习",
    "emoji 😀👍🏽 and ZWJ 👩‍💻",
    "  leading spaces\n\n\ttabs\r\nand trailing  ",
    "snake_case_name = 42_000",
    "<|user|>hi<|end|><|assistant|>",  # looks like chat markers, but it is plain text
]
TRAIN_TEXT = "\n".join(SAMPLES * 3) + "\nThe quick brown fox jumps over the lazy dog. " * 20


@pytest.fixture(scope="module")
def small():
    """One tokenizer of each kind, trained on text that contains every sample."""
    return {kind: train_tokenizer(kind, TRAIN_TEXT, vocab_size=300) for kind in KINDS}


@pytest.fixture(scope="module")
def corpus():
    return "\n".join(topics[k] for k in sorted(topics))


# --- shared interface -----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_special_tokens_are_ids_0_to_5(small, kind):
    tok = small[kind]
    assert tok.kind == kind
    assert tok.special_ids == {s: i for i, s in enumerate(SPECIAL_TOKENS)}
    assert (tok.pad_id, tok.bos_id, tok.end_id) == (0, 1, 2)
    assert tok.decode(range(6)) == "".join(SPECIAL_TOKENS)
    assert tok.token_strings([0, 4, 5]) == ["<|pad|>", "<|user|>", "<|assistant|>"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip(small, kind, text):
    tok = small[kind]
    ids = tok.encode(text)
    assert all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text
    assert tok.decode(np.array(ids, dtype=np.int64)) == text  # model output is a numpy array
    pieces = tok.token_strings(ids)
    assert len(pieces) == len(ids)
    if kind == "char":
        assert pieces == list(text)


@pytest.mark.parametrize("kind", KINDS)
def test_special_strings_in_text_stay_plain_text(small, kind):
    tok = small[kind]
    text = "<|user|>hi<|end|><|assistant|>"
    ids = tok.encode(text)
    assert not set(ids) & set(range(len(SPECIAL_TOKENS)))
    assert tok.decode(ids) == text
    # Chat code adds real special ids around encoded text; both decode back.
    assert tok.decode([tok.special_ids["<|user|>"]] + tok.encode("hi") + [tok.end_id]) == "<|user|>hi<|end|>"


@pytest.mark.parametrize("kind", KINDS)
def test_decode_rejects_ids_outside_vocabulary(small, kind):
    tok = small[kind]
    with pytest.raises(ValueError, match="outside"):
        tok.decode([tok.vocab_size])


@pytest.mark.parametrize("kind", ["bpe", "fast-bpe"])
def test_invalid_utf8_decodes_with_replacement(small, kind):
    tok = small[kind]
    ids = tok.encode("𝔘")  # 4 UTF-8 bytes, absent from the training text: one token per byte
    assert len(ids) == 4
    assert tok.decode(ids) == "𝔘"
    assert tok.decode(ids[:2]) == "\ufffd"  # a cut-off character
    assert tok.decode([1] + ids[:1] + [2]) == "<|bos|>\ufffd<|end|>"
    assert tok.token_strings(ids) == ["\ufffd"] * 4


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(small, tmp_path, kind):
    tok = small[kind]
    path = tmp_path / f"{kind}.json"
    tok.save(path)
    d = json.loads(path.read_text(encoding="utf-8"))
    assert (d["format"], d["version"], d["kind"]) == ("minigpt-tokenizer", 1, kind)
    assert d["special_tokens"] == list(SPECIAL_TOKENS)
    loaded = load_tokenizer(path)
    assert type(loaded) is type(tok)
    assert loaded.to_dict() == tok.to_dict()
    assert loaded.vocab_size == tok.vocab_size
    for text in SAMPLES + ["<|user|>"]:
        assert loaded.encode(text) == tok.encode(text)
    assert tokenizer_from_dict(tok.to_dict()).encode(SAMPLES[1]) == tok.encode(SAMPLES[1])


def test_load_errors(tmp_path, small):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_tokenizer(tmp_path / "missing.json")
    (tmp_path / "junk.json").write_text("not json {")
    with pytest.raises(ValueError, match="not a JSON tokenizer file"):
        load_tokenizer(tmp_path / "junk.json")
    (tmp_path / "other.json").write_text('{"vocab": {}}')
    with pytest.raises(ValueError, match="not a minigpt-tokenizer file"):
        load_tokenizer(tmp_path / "other.json")
    d = small["char"].to_dict()
    with pytest.raises(ValueError, match="special tokens"):
        tokenizer_from_dict({**d, "special_tokens": ["<s>"]})
    with pytest.raises(ValueError, match="version"):
        tokenizer_from_dict({**d, "version": 99})
    with pytest.raises(ValueError, match="unknown tokenizer kind 'word'"):
        tokenizer_from_dict({**d, "kind": "word"})
    with pytest.raises(ValueError, match="does not exist yet"):
        tokenizer_from_dict({**small["bpe"].to_dict(), "merges": [[300, 7]]})


def test_train_tokenizer_errors():
    with pytest.raises(ValueError, match="unknown tokenizer kind 'wordpiece'; choose one of 'char', 'bpe', 'fast-bpe'"):
        train_tokenizer("wordpiece", "abc")
    for kind in ("bpe", "fast-bpe"):
        with pytest.raises(ValueError, match="must exceed 262"):
            train_tokenizer(kind, "abc", vocab_size=262)
    assert train_tokenizer("bpe", "aaaa", vocab_size=263).merges == [(BYTE_OFFSET + 97, BYTE_OFFSET + 97)]


# --- character tokenizer ---------------------------------------------------------


def test_char_vocabulary_is_sorted_characters_after_specials():
    tok = CharTokenizer.train("hello")
    assert tok.chars == ["e", "h", "l", "o"]
    assert tok.vocab_size == 10
    assert tok.encode("hello") == [7, 6, 8, 8, 9]
    assert tok.token_strings([7, 6, 2]) == ["h", "e", "<|end|>"]
    assert train_tokenizer("char", "hello", vocab_size=999).chars == tok.chars  # the text sets the size


def test_char_unknown_character_error():
    tok = CharTokenizer.train("hello")
    with pytest.raises(ValueError) as info:
        tok.encode("help!\n")
    message = str(info.value)
    assert "\n" not in message
    assert "'!'" in message and "'\\n'" in message and "'p'" in message and "'h'" not in message
    assert "train" in message


# --- byte-level BPE from scratch ---------------------------------------------------


def test_pair_counts_and_merge():
    assert get_pair_counts([1, 2, 1, 2]) == {(1, 2): 2, (2, 1): 1}
    assert get_pair_counts([7]) == {}
    assert merge([1, 2, 3, 1, 2], (1, 2), 9) == [9, 3, 9]
    assert merge([1, 1, 1], (1, 1), 9) == [9, 1]  # left to right, no overlaps
    assert merge([], (1, 2), 9) == []


def test_split_text():
    assert split_text("你好，世界！机器学习") == ["你好", "，", "世界", "！", "机器学习"]
    assert split_text("Hello world's  snake_case 123!\n\n x") == [
        "Hello", " world", "'s", " ", " snake", "_", "case", " 123", "!", "\n\n", " x"
    ]
    every_char = "".join(chr(c) for c in range(0, 0x110000, 7) if not 0xD800 <= c < 0xE000)
    assert "".join(split_text(every_char)) == every_char  # nothing is dropped


def test_bpe_merges_by_hand():
    # a=97 -> id 103, b=104, c=105, d=106. "aaabdaaabac" is one chunk.
    # Step 1: aa occurs 4 times -> 262.   [262, a, b, d, 262, a, b, a, c]
    # Step 2: (262, a) and (a, b) both occur twice; the tie goes to the smaller
    #         pair (103, 104) = "ab" -> 263.   [262, 263, d, 262, 263, a, c]
    # Step 3: (262, 263) twice -> 264 = "aaab".   [264, d, 264, a, c]
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=265)
    assert tok.merges == [(103, 103), (103, 104), (262, 263)]
    assert tok.vocab_size == 265
    assert tok.encode("aaabdaaabac") == [264, 106, 264, 103, 105]
    assert tok.token_strings([262, 263, 264]) == ["aa", "ab", "aaab"]
    assert tok.encode("aaab aab") == [264, 38, 262, 104]  # " aab": space=38, then aa, b
    assert tok.decode([264, 106, 264, 103, 105]) == "aaabdaaabac"


def test_bpe_progress_output(capsys):
    BPETokenizer.train("aaabdaaabac", vocab_size=264, progress=True)
    assert capsys.readouterr().out.splitlines() == [
        "merge 1/2: (103, 103) -> 262 b'aa' (4 times)",
        "merge 2/2: (103, 104) -> 263 b'ab' (2 times)",
    ]


def test_bpe_stops_when_nothing_is_left_to_merge():
    tok = BPETokenizer.train("ab ab", vocab_size=1000)
    assert tok.merges == [(BYTE_OFFSET + 97, BYTE_OFFSET + 98), (BYTE_OFFSET + 32, FIRST_MERGE_ID)]
    assert tok.encode("ab ab") == [FIRST_MERGE_ID, FIRST_MERGE_ID + 1]


def test_bpe_merges_stay_inside_chunks():
    tok = BPETokenizer.train("hello hello hello. hello!", vocab_size=300)
    assert tok.token_strings(tok.encode(" hello")) == [" hello"]
    assert all(b"o " not in piece and b"o." not in piece for piece in tok.vocab)


def test_bpe_encodes_bytes_never_seen_in_training(small):
    tok = small["bpe"]
    text = "Ωmega ∑ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \x00"
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode("\x00") == [BYTE_OFFSET]
    assert tok.token_strings(tok.encode("é")) == ["\ufffd", "\ufffd"]  # é is two bytes the toy corpus never merged


def test_corpus_compression(corpus):
    bpe = BPETokenizer.train(corpus, vocab_size=512)
    fast = FastBPETokenizer.train(corpus, vocab_size=512)
    n_bytes = len(corpus.encode("utf-8"))
    for tok in (bpe, fast):
        assert tok.vocab_size == 512
        ids = tok.encode(corpus)
        assert len(ids) < n_bytes / 2, f"{tok.kind}: {n_bytes / len(ids):.2f} bytes per token"
        assert tok.decode(ids) == corpus
    assert bpe.token_strings(bpe.encode(" the")) == [" the"]
