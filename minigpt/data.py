"""Text for the model to learn from, turned into token ids and random training windows.

Three sources, one interface (`load_documents`):
- nothing: the embedded corpus, Python's own reference documentation
  (`pydoc_data.topics`, ~465 KB, shipped with every CPython), so the kit works
  offline on any machine;
- a local `.txt` file (one document) or `.jsonl` file (one `{"text": ...}` per line);
- the name of a Hugging Face hub dataset, or a local dataset folder, loaded
  with `datasets.load_dataset`.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EMBEDDED = "pydoc"  # the name `--data` uses for the embedded corpus


class DataError(ValueError):
    """Data that cannot be used, with a message that says what to do about it."""


def embedded_corpus():
    """The topics of Python's reference documentation, in sorted key order."""
    from pydoc_data.topics import topics

    return [topics[key] for key in sorted(topics)]


def load_documents(source=None, text_column="text"):
    """A list of non-empty text documents from `source` (see the module docstring)."""
    if source in (None, "", EMBEDDED):
        return embedded_corpus()
    path = Path(source)
    if path.is_dir():
        return _load_dataset(str(path), text_column)
    if path.suffix in (".txt", ".jsonl") or path.exists():
        return _read_local(path, text_column)
    _check_hub_reachable(source)
    return _load_dataset(source, text_column)


def _read_local(path, text_column):
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}): re-save it as UTF-8") from None
    if path.suffix != ".jsonl":
        documents = [text]
    else:
        wrong = f"expected an object with a string field {text_column!r}"
        documents = [r[text_column] for r in read_jsonl(path, lambda r: None if isinstance(r.get(text_column), str)
                                                          else wrong)]
    documents = [d for d in documents if d.strip()]
    if not documents:
        raise DataError(f"{path} contains no text")
    return documents


def read_jsonl(path, check=None):
    """The records of a JSON-lines file (one JSON object per line; blank lines skipped).

    ``check(record)`` may return what is wrong with a record; the error then names its line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    records = []
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}, line {number}: not valid JSON ({e.msg})") from None
            problem = f"expected a JSON object, got {type(record).__name__}" if not isinstance(record, dict) \
                else check(record) if check else None
            if problem:
                raise DataError(f"{path}, line {number}: {problem}")
            records.append(record)
    return records


def write_jsonl(records, path):
    """One JSON object per line; the folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as file:
        for record in records:
            file.write(json.dumps(record) + "\n")
    return path


def _check_hub_reachable(name, timeout=3.0):
    """Fail at once when offline, instead of after the hub client's retries."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return  # offline mode: `datasets` answers from its local cache
    host = urlparse(constants.ENDPOINT).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        raise DataError(f"cannot load dataset {name!r}: it is not a local file and the hub ({host}) "
                        f"is unreachable (offline?)") from None


def _load_dataset(name, text_column, split="train"):
    """Documents from a hub dataset or a local dataset folder, via `datasets.load_dataset`."""
    import datasets

    try:
        dataset = datasets.load_dataset(name, split=split)
    except Exception as e:  # the hub client raises many types; all mean "cannot load"
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"cannot load dataset {name!r}: {reason}") from None
    if text_column not in dataset.column_names:
        raise DataError(f"dataset {name!r} has no column {text_column!r}; "
                        f"columns: {', '.join(dataset.column_names)}")
    documents = [d for d in dataset[text_column] if isinstance(d, str) and d.strip()]
    if not documents:
        raise DataError(f"dataset {name!r} contains no text in column {text_column!r}")
    return documents


def cache_dir():
    return Path(os.environ.get("MINIGPT_CACHE", Path.home() / ".cache" / "minigpt"))


def tokenize_documents(documents, tokenizer, separator="\n"):
    """All documents as one stream of token ids, joined by `separator`'s tokens.

    Tokenizing goes through `datasets.map`, which runs in batches and caches
    the result on disk: the second run on the same text and tokenizer is instant.
    """
    import datasets

    key = hashlib.sha256()
    key.update(json.dumps(tokenizer.to_dict(), sort_keys=True).encode())
    for document in documents:
        key.update(hashlib.sha256(document.encode("utf-8", "surrogatepass")).digest())
    fingerprint = key.hexdigest()[:32]
    cache_file = cache_dir() / "tokens" / f"{fingerprint}.arrow"
    cache_file.parent.mkdir(parents=True, exist_ok=True)

    last = len(documents) - 1

    def encode_batch(batch, indices):
        separator_ids = tokenizer.encode(separator) if last > 0 else []
        return {"ids": [tokenizer.encode(text) + (separator_ids if i < last else [])
                        for text, i in zip(batch["text"], indices)]}

    datasets.disable_progress_bars()
    tokenized = datasets.Dataset.from_dict({"text": documents}).map(
        encode_batch, batched=True, with_indices=True, remove_columns=["text"],
        cache_file_name=str(cache_file), new_fingerprint=fingerprint,
    )
    ids = tokenized.with_format("numpy")["ids"]
    return np.concatenate(list(ids)).astype(np.int32) if len(ids) else np.zeros(0, np.int32)


@dataclass
class TokenSplits:
    train: np.ndarray
    val: np.ndarray

    def batch(self, split, batch_size, block_size, rng):
        """Random windows from one split: the interface `Trainer` samples batches through."""
        return get_batch(getattr(self, split), batch_size, block_size, rng)


def train_val_split(tokens, val_fraction=0.1):
    """The first (1 - val_fraction) of the stream for training, the rest for validation."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    cut = int(len(tokens) * (1.0 - val_fraction))
    return TokenSplits(train=tokens[:cut], val=tokens[cut:])


def get_batch(tokens, batch_size, block_size, rng):
    """`batch_size` random windows: inputs x and targets y = x shifted by one token."""
    if len(tokens) <= block_size:
        raise DataError(f"a split has only {len(tokens)} tokens, fewer than block_size + 1 = {block_size + 1}: "
                        f"use more text or a smaller block size")
    starts = rng.integers(0, len(tokens) - block_size, size=batch_size)
    x = np.stack([tokens[s : s + block_size] for s in starts])
    y = np.stack([tokens[s + 1 : s + 1 + block_size] for s in starts])
    return x.astype(np.int32), y.astype(np.int32)
