"""Shared fixtures: quiet MindSpore on CPU, a private token cache, a tiny trained run."""

import os

os.environ.setdefault("GLOG_v", "3")
os.environ.setdefault("MINIGPT_DEVICE", "cpu")

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _quiet_cpu_and_private_cache(tmp_path_factory):
    os.environ["MINIGPT_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    from minigpt.device import setup_device

    setup_device(quiet=True)


TINY_TEXT = "the quick brown fox jumps over the lazy dog. " * 40


@pytest.fixture(scope="session")
def tiny_data():
    """A char tokenizer and train/val token splits of a small repetitive text."""
    from minigpt.data import tokenize_documents, train_val_split
    from minigpt.tokenizer import CharTokenizer

    tokenizer = CharTokenizer.train(TINY_TEXT)
    return tokenizer, train_val_split(tokenize_documents([TINY_TEXT], tokenizer))


@pytest.fixture(scope="session")
def tiny_config(tiny_data):
    from minigpt.model import GPTConfig

    tokenizer, _ = tiny_data
    return GPTConfig(vocab_size=tokenizer.vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=32)


@pytest.fixture(scope="session")
def random_chat_session():
    """A factory of ChatSessions on a 1-layer random model: for tests of the session and its faces,
    where what the model says does not matter."""
    def make(alphabet="abcdefghijklmnopqrstuvwxyz ?.", block_size=64, **options):
        from minigpt.device import seed_everything
        from minigpt.model import GPT, GPTConfig
        from minigpt.session import ChatSession
        from minigpt.tokenizer import CharTokenizer

        tokenizer = CharTokenizer.train(alphabet)
        seed_everything(0)
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=block_size, n_layer=1, n_head=2,
                              n_embd=16, positions="rotary"))
        return ChatSession(model, tokenizer, **options)

    return make
