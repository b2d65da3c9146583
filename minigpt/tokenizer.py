"""Tokenizers: text <-> lists of integer ids.

Three kinds share one interface (`Tokenizer`) and one JSON save format:

* `CharTokenizer`  - one id per character; tiny vocabulary, long sequences.
* `BPETokenizer`   - byte-level byte-pair encoding written from scratch in plain
  Python: start from the 256 byte values and repeatedly merge the most frequent
  adjacent pair into a new token. This is the one students implement.
* `FastBPETokenizer` - the same idea through the Rust `tokenizers` library,
  for corpora where pure Python is too slow.

Every tokenizer reserves the chat special tokens as ids 0..5 from the start, so
a model pretrained with any of them can later be chat-tuned without resizing
its embedding table. `encode` treats its input as plain text: a user who types
"<|assistant|>" gets ordinary text tokens, never the special id, so user input
cannot forge chat turns. Special ids enter a sequence only when code puts them
there (see the chat template).

Floor 1: imports only the standard library (and `tokenizers`, lazily).
"""

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

SPECIAL_TOKENS = ("<|pad|>", "<|bos|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>")
FORMAT = "minigpt-tokenizer"
VERSION = 1

# Byte-level BPE ids: specials, then the 256 byte values, then one id per merge.
BYTE_OFFSET = len(SPECIAL_TOKENS)  # id of byte 0
FIRST_MERGE_ID = BYTE_OFFSET + 256  # id of the first learned merge
DEFAULT_BPE_VOCAB_SIZE = 512

# GPT-2 splits text into chunks (words with their leading space, numbers,
# punctuation runs, whitespace) before BPE, so merges never cross a chunk
# boundary: "dog." and "dog!" share the token " dog". GPT-2 writes letters as
# \p{L}, which the stdlib `re` lacks; [^\W\d_] (a word character that is not a
# digit or underscore) means the same for our purpose and keeps Chinese
# characters together as letters. The underscore, a word character but not a
# letter, joins the punctuation class, as in GPT-2. Every character matches
# some alternative, so joining the chunks always gives back the text.
SPLIT_PATTERN = re.compile(r"'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+")


class Tokenizer:
    """Common base: special tokens, id checks, decoding and the save format.

    Subclasses set `kind` and implement `vocab_size`, `encode`, `token_bytes`
    (or override `decode`/`token_strings`), `_state` and `_from_state`.
    """

    kind = ""

    @property
    def special_ids(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(SPECIAL_TOKENS)}

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    @property
    def pad_id(self) -> int:
        return self.special_ids["<|pad|>"]

    @property
    def bos_id(self) -> int:
        return self.special_ids["<|bos|>"]

    @property
    def end_id(self) -> int:
        return self.special_ids["<|end|>"]

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def token_bytes(self, token_id: int) -> bytes:
        """The UTF-8 bytes one id stands for (a special id gives its string)."""
        raise NotImplementedError

    def _check_ids(self, ids) -> list[int]:
        """Accept a list or a 1-D numpy array; refuse ids outside the vocabulary."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token id {bad[0]} is outside this {self.kind} tokenizer's vocabulary (size {self.vocab_size})")
        return ids

    def decode(self, ids) -> str:
        # Join bytes first, then decode once: a multi-byte character may be split
        # over several byte-level tokens. Bytes that are not valid UTF-8 (a model
        # can generate any sequence) become U+FFFD instead of raising.
        data = b"".join(self.token_bytes(i) for i in self._check_ids(ids))
        return data.decode("utf-8", errors="replace")

    def token_strings(self, ids) -> list[str]:
        """One display string per id, to show where the token boundaries fall."""
        return [self.token_bytes(i).decode("utf-8", errors="replace") for i in self._check_ids(ids)]

    def to_dict(self) -> dict:
        header = {"format": FORMAT, "version": VERSION, "kind": self.kind, "special_tokens": list(SPECIAL_TOKENS)}
        return {**header, **self._state()}

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    def _state(self) -> dict:
        """Kind-specific fields of the save format."""
        raise NotImplementedError

    @classmethod
    def _from_state(cls, d: dict) -> "Tokenizer":
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


class CharTokenizer(Tokenizer):
    """One token per Unicode character; the vocabulary comes from the training text."""

    kind = "char"

    def __init__(self, chars):
        self.chars = list(chars)
        if len(set(self.chars)) != len(self.chars) or any(len(c) != 1 for c in self.chars):
            raise ValueError("a char tokenizer's vocabulary must be distinct single characters")
        self.char_ids = {c: i for i, c in enumerate(self.chars, start=len(SPECIAL_TOKENS))}

    @classmethod
    def train(cls, text: str) -> "CharTokenizer":
        """Vocabulary = the sorted distinct characters of `text`, after the specials."""
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(SPECIAL_TOKENS) + len(self.chars)

    def encode(self, text: str) -> list[int]:
        missing = sorted(set(text) - self.char_ids.keys())
        if missing:
            shown = ", ".join(repr(c) for c in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise ValueError(f"character(s) not in the char tokenizer's vocabulary: {shown}; train it on text that contains them")
        return [self.char_ids[c] for c in text]

    def token_bytes(self, token_id: int) -> bytes:
        if token_id < len(SPECIAL_TOKENS):
            return SPECIAL_TOKENS[token_id].encode("utf-8")
        return self.chars[token_id - len(SPECIAL_TOKENS)].encode("utf-8")

    def _state(self) -> dict:
        return {"chars": self.chars}

    @classmethod
    def _from_state(cls, d: dict) -> "CharTokenizer":
        return cls(d["chars"])


# --- Byte-level BPE from scratch ---------------------------------------------


def split_text(text: str) -> list[str]:
    """Cut text into the chunks that BPE merges within (see SPLIT_PATTERN)."""
    return SPLIT_PATTERN.findall(text)


def get_pair_counts(ids: list[int]) -> Counter:
    """How often each adjacent pair occurs: [1, 2, 1, 2] -> {(1, 2): 2, (2, 1): 1}."""
    return Counter(zip(ids, ids[1:]))


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `ids`, left to right, with `new_id`."""
    out = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _check_byte_vocab_size(vocab_size: int) -> None:
    if vocab_size <= FIRST_MERGE_ID:
        raise ValueError(
            f"vocab_size must exceed {FIRST_MERGE_ID} for a byte-level BPE "
            f"({len(SPECIAL_TOKENS)} special tokens + 256 bytes), got {vocab_size}"
        )


class BPETokenizer(Tokenizer):
    """Byte-level BPE in plain Python.

    Ids 0..5 are the specials, 6..261 the bytes 0..255, and merge k (counting
    from 0) creates id 262 + k. The ordered list of merges is the whole model.
    """

    kind = "bpe"

    def __init__(self, merges):
        self.merges = []
        self.merge_ids = {}  # pair -> the id it merges into; smaller id = learned earlier
        # The bytes each id stands for: specials, single bytes, then merged pairs.
        self.vocab = [token.encode("utf-8") for token in SPECIAL_TOKENS] + [bytes([b]) for b in range(256)]
        for pair in merges:
            self.add_merge(pair)

    def add_merge(self, pair) -> None:
        """Append one merge to the model: the pair's two tokens become a new token."""
        a, b = pair
        new_id = len(self.vocab)
        if not (BYTE_OFFSET <= a < new_id and BYTE_OFFSET <= b < new_id):
            raise ValueError(f"merge {(a, b)} -> {new_id} refers to an id that does not exist yet")
        self.merges.append((a, b))
        self.merge_ids[(a, b)] = new_id
        self.vocab.append(self.vocab[a] + self.vocab[b])

    @classmethod
    def train(cls, text: str, vocab_size: int, progress: bool = False) -> "BPETokenizer":
        """Learn vocab_size - 262 merges from `text`.

        Each step merges the most frequent adjacent pair (ties go to the
        smallest pair of ids, so training is deterministic) and records it.
        Two tricks make this fast enough for plain Python:
        * the text repeats the same chunks (" the", " of") thousands of times,
          so we keep each distinct chunk once, weighted by how often it occurs;
        * a merge changes only the chunks that contain the pair, so we update
          the pair counts for those chunks instead of recounting everything.
        """
        _check_byte_vocab_size(vocab_size)
        chunk_counts = Counter(split_text(text))
        chunks = [[BYTE_OFFSET + b for b in chunk.encode("utf-8")] for chunk in chunk_counts]
        weights = list(chunk_counts.values())
        pair_counts = Counter()  # pair -> occurrences in the whole text
        chunks_with = defaultdict(set)  # pair -> indices of the chunks that contain it

        def tally(i, sign):
            """Add (sign=+1) or remove (sign=-1) chunk i's pairs from the counts."""
            for pair, count in get_pair_counts(chunks[i]).items():
                pair_counts[pair] += sign * count * weights[i]
                if sign > 0:
                    chunks_with[pair].add(i)

        for i in range(len(chunks)):
            tally(i, +1)
        tokenizer = cls([])
        for new_id in range(FIRST_MERGE_ID, vocab_size):
            candidates = [pair for pair, count in pair_counts.items() if count > 0]
            if not candidates:  # every chunk is already a single token
                break
            best = min(candidates, key=lambda pair: (-pair_counts[pair], pair))
            best_count = pair_counts[best]
            for i in chunks_with.pop(best):
                tally(i, -1)
                chunks[i] = merge(chunks[i], best, new_id)
                tally(i, +1)
            tokenizer.add_merge(best)
            if progress:
                print(f"merge {new_id - FIRST_MERGE_ID + 1}/{vocab_size - FIRST_MERGE_ID}: "
                      f"{best} -> {new_id} {tokenizer.vocab[new_id]!r} ({best_count} times)")
        return tokenizer

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode_chunk(self, data: bytes) -> list[int]:
        """Apply the learned merges to one chunk, earliest-learned merge first."""
        ids = [BYTE_OFFSET + b for b in data]
        while len(ids) >= 2:
            # Among the pairs present, the one that was merged earliest in training.
            pair = min(zip(ids, ids[1:]), key=lambda p: self.merge_ids.get(p, float("inf")))
            if pair not in self.merge_ids:
                break
            ids = merge(ids, pair, self.merge_ids[pair])
        return ids

    def encode(self, text: str) -> list[int]:
        ids = []
        known = {}  # chunk -> ids; text repeats its words, so encode each once
        for chunk in split_text(text):
            if chunk not in known:
                known[chunk] = self.encode_chunk(chunk.encode("utf-8"))
            ids.extend(known[chunk])
        return ids

    def token_bytes(self, token_id: int) -> bytes:
        return self.vocab[token_id]

    def _state(self) -> dict:
        return {"merges": [list(pair) for pair in self.merges]}

    @classmethod
    def _from_state(cls, d: dict) -> "BPETokenizer":
        return cls(d["merges"])


# --- Byte-level BPE through the `tokenizers` library --------------------------


class FastBPETokenizer(Tokenizer):
    """Byte-level BPE trained and run by Hugging Face's Rust `tokenizers`.

    Same recipe as `BPETokenizer`: GPT-2 chunking, 256 byte symbols, merges.
    The library maps each byte to a printable character (its ByteLevel
    alphabet), so its ids 6..261 are the bytes in a different order.
    """

    kind = "fast-bpe"

    def __init__(self, tokenizer):
        """Wrap a `tokenizers.Tokenizer` whose first ids are our special tokens."""
        for i, token in enumerate(SPECIAL_TOKENS):
            if tokenizer.token_to_id(token) != i:
                raise ValueError(f"fast-bpe tokenizer must give {token!r} id {i}, got {tokenizer.token_to_id(token)}")
        # The library's name is confusing: True means "encode special-token
        # strings found in the text as ordinary text", which is what we want.
        tokenizer.encode_special_tokens = True
        self.tokenizer = tokenizer

    @classmethod
    def train(cls, text: str, vocab_size: int) -> "FastBPETokenizer":
        _check_byte_vocab_size(vocab_size)
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        tokenizer = HFTokenizer(models.BPE())
        # No prefix space: encode("hi") must decode to "hi", not " hi".
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIAL_TOKENS),  # added first, so they get ids 0..5
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, seen or not
            show_progress=False,
        )
        tokenizer.train_from_iterator([text], trainer=trainer)
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids) -> str:
        return self.tokenizer.decode(self._check_ids(ids), skip_special_tokens=False)

    def token_strings(self, ids) -> list[str]:
        return [self.tokenizer.decode([i], skip_special_tokens=False) for i in self._check_ids(ids)]

    def _state(self) -> dict:
        return {"tokenizer_json": self.tokenizer.to_str()}

    @classmethod
    def _from_state(cls, d: dict) -> "FastBPETokenizer":
        from tokenizers import Tokenizer as HFTokenizer

        return cls(HFTokenizer.from_str(d["tokenizer_json"]))


# --- One entry point per job ---------------------------------------------------

TOKENIZER_CLASSES = {cls.kind: cls for cls in (CharTokenizer, BPETokenizer, FastBPETokenizer)}


def train_tokenizer(kind: str, text: str, vocab_size: int | None = None) -> Tokenizer:
    """Train a tokenizer of `kind` on `text`.

    vocab_size counts the special tokens; it is ignored for "char" (the text
    decides that vocabulary) and defaults to 512 for the byte-level BPEs.
    """
    if kind not in TOKENIZER_CLASSES:
        raise ValueError(f"unknown tokenizer kind {kind!r}; choose one of {', '.join(map(repr, TOKENIZER_CLASSES))}")
    if kind == "char":
        return CharTokenizer.train(text)
    return TOKENIZER_CLASSES[kind].train(text, DEFAULT_BPE_VOCAB_SIZE if vocab_size is None else vocab_size)


def tokenizer_from_dict(d) -> Tokenizer:
    """Rebuild a tokenizer from `Tokenizer.to_dict()` output."""
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} file (expected a JSON object with \"format\": \"{FORMAT}\")")
    if d.get("version") != VERSION:
        raise ValueError(f"unsupported {FORMAT} version {d.get('version')!r}; this code reads version {VERSION}")
    if d.get("special_tokens") != list(SPECIAL_TOKENS):
        raise ValueError(f"tokenizer was saved with special tokens {d.get('special_tokens')!r}, expected {list(SPECIAL_TOKENS)!r}")
    if d.get("kind") not in TOKENIZER_CLASSES:
        raise ValueError(f"unknown tokenizer kind {d.get('kind')!r}; choose one of {', '.join(map(repr, TOKENIZER_CLASSES))}")
    return TOKENIZER_CLASSES[d["kind"]]._from_state(d)


def load_tokenizer(path) -> Tokenizer:
    """Read a tokenizer of any kind from the JSON file `save` wrote."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file not found: {path}")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a JSON tokenizer file: {e}") from None
    try:
        return tokenizer_from_dict(d)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
