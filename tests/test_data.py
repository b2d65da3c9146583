"""Corpora, tokenization with caching, splits, batches, and errors for bad data."""

import json

import numpy as np
import pytest

from minigpt import data
from minigpt.data import (DataError, embedded_corpus, get_batch, load_documents, tokenize_documents,
                          train_val_split)
from minigpt.tokenizer import CharTokenizer


def test_embedded_corpus_is_pythons_documentation_in_sorted_key_order():
    from pydoc_data.topics import topics

    documents = embedded_corpus()
    assert documents == [topics[k] for k in sorted(topics)]
    assert 400_000 < sum(map(len, documents)) < 600_000
    assert load_documents() == documents


def test_local_text_and_jsonl(tmp_path):
    (tmp_path / "a.txt").write_text("你好，世界\nhello", encoding="utf-8")
    assert load_documents(str(tmp_path / "a.txt")) == ["你好，世界\nhello"]
    lines = [json.dumps({"text": "one"}), "", json.dumps({"text": "two", "id": 2})]
    (tmp_path / "b.jsonl").write_text("\n".join(lines))
    assert load_documents(str(tmp_path / "b.jsonl")) == ["one", "two"]


def test_a_local_dataset_folder_loads_through_datasets(tmp_path):
    (tmp_path / "train.jsonl").write_text(json.dumps({"content": "alpha"}) + "\n" + json.dumps({"content": "beta"}))
    assert load_documents(str(tmp_path), text_column="content") == ["alpha", "beta"]
    with pytest.raises(DataError, match="has no column 'text'; columns: content"):
        load_documents(str(tmp_path))


@pytest.mark.parametrize("name, content, message", [
    ("missing.txt", None, "data file not found"),
    ("empty.txt", b"  \n", "contains no text"),
    ("latin1.txt", "café".encode("latin-1"), "is not UTF-8 text"),
    ("bad.jsonl", b'{"text": "ok"}\n{oops', "line 2: not valid JSON"),
    ("wrong.jsonl", b'{"body": "x"}', "line 1: expected an object with a string field 'text'"),
])
def test_bad_files_get_clear_errors(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_documents(str(tmp_path / name))


def test_unreachable_hub_names_the_dataset(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr("socket.create_connection", offline)
    with pytest.raises(DataError, match="cannot load dataset 'someone/stories': .* unreachable"):
        load_documents("someone/stories")


def test_tokenization_joins_documents_and_is_cached(monkeypatch):
    tokenizer = CharTokenizer.train("ab\ncd")
    ids = tokenize_documents(["ab", "cd"], tokenizer)
    assert tokenizer.decode(ids) == "ab\ncd"
    assert ids.dtype == np.int32
    cached = list((data.cache_dir() / "tokens").glob("*.arrow"))
    assert cached
    monkeypatch.setattr(CharTokenizer, "encode", lambda self, text: pytest.fail("not served from cache"))
    np.testing.assert_array_equal(tokenize_documents(["ab", "cd"], tokenizer), ids)


def test_split_and_batches():
    tokens = np.arange(100, dtype=np.int32)
    splits = train_val_split(tokens, 0.1)
    assert splits.train.tolist() == list(range(90)) and splits.val.tolist() == list(range(90, 100))
    x, y = get_batch(splits.train, 4, 8, np.random.default_rng(0))
    assert x.shape == y.shape == (4, 8) and x.dtype == np.int32
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])  # targets are the inputs shifted by one
    np.testing.assert_array_equal(y[:, -1], x[:, -1] + 1)
    with pytest.raises(DataError, match="fewer than block_size"):
        get_batch(splits.val, 2, 10, np.random.default_rng(0))
    with pytest.raises(DataError, match="val_fraction must be between 0 and 1"):
        train_val_split(tokens, 1.5)
