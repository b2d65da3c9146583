"""Chat tuning: packed batches train only on assistant tokens, and SFT lowers exactly that loss."""

import numpy as np
import pytest
import mindspore as ms

from minigpt.chat import render_conversation
from minigpt.device import seed_everything
from minigpt.model import GPT, GPTConfig
from minigpt.data import TokenSplits
from minigpt.sft import IGNORE, ChatData, Rehearsal
from minigpt.tinychat import generate_examples
from minigpt.tokenizer import CharTokenizer
from minigpt.train import Trainer, TrainConfig, loss_function

CONVERSATION = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer.train("".join(chr(c) for c in range(32, 127)))


def test_packed_rows_train_only_on_assistant_tokens(tokenizer):
    data = ChatData(tokenizer, [CONVERSATION], [CONVERSATION])
    ids, mask = render_conversation(tokenizer, CONVERSATION)
    x, y = data.batch("train", 2, 2 * len(ids), np.random.default_rng(0))
    n = len(ids) - 1
    assert x.shape == y.shape == (2, 2 * len(ids))
    np.testing.assert_array_equal(x[0, :n], ids[:-1])  # first conversation of the row
    np.testing.assert_array_equal(x[0, n:2 * n], ids[:-1])  # a second one packed behind it
    assert (x[0, 2 * n:] == tokenizer.pad_id).all() and (y[0, 2 * n:] == IGNORE).all()
    trained = y[0, :n] != IGNORE
    np.testing.assert_array_equal(trained, np.array(mask[1:]) == 1)
    assert tokenizer.decode(y[0, :n][trained]) == "yo<|end|>4<|end|>"


def test_a_conversation_longer_than_the_block_is_refused(tokenizer):
    data = ChatData(tokenizer, [CONVERSATION], [CONVERSATION])
    with pytest.raises(ValueError, match="does not fit in block_size 8"):
        data.batch("train", 1, 8, np.random.default_rng(0))


def test_rehearsal_gives_rows_of_training_batches_to_the_text(tokenizer):
    chats = ChatData(tokenizer, [CONVERSATION], [CONVERSATION])
    text = np.array(tokenizer.encode("Suna Tavo comes from Lima. " * 20), np.int32)
    data = Rehearsal(chats, TokenSplits(text, text), rows=2)
    x, y = data.batch("train", 5, 24, np.random.default_rng(0))
    assert (x[:3] == tokenizer.bos_id).any(axis=1).all()  # conversations
    assert not (x[3:] == tokenizer.bos_id).any() and (y[3:] != IGNORE).all()  # text, every token a target
    np.testing.assert_array_equal(x[3:, 1:], y[3:, :-1])
    x, _ = data.batch("val", 5, 24, np.random.default_rng(0))
    assert (x == tokenizer.bos_id).any(axis=1).all()  # evaluation: conversations only


class EveryToken:
    """The control: the same packed rows, with every real token a target, the user's included."""

    def __init__(self, data, pad_id):
        self.data, self.pad_id = data, pad_id

    def batch(self, split, batch_size, block_size, rng):
        x, y = self.data.batch(split, batch_size, block_size, rng)
        next_tokens = np.concatenate([x[:, 1:], np.full((batch_size, 1), self.pad_id)], axis=1)
        user_text = np.where(next_tokens != self.pad_id, next_tokens, IGNORE)
        return x, np.where(y != IGNORE, y, user_text)  # y holds the assistant targets, ends included


@pytest.mark.slow
def test_sft_lowers_the_loss_on_assistant_tokens_only(tokenizer, tmp_path):
    # One exchange each (the figures below were measured so), in rows of 128 tokens.
    train = [e["messages"] for e in generate_examples("train", 700, seed=0) if len(e["messages"]) == 2][:200]
    test = [e["messages"] for e in generate_examples("test", 40, seed=0)]
    data = ChatData(tokenizer, train, test)
    # The same validation rows scored two ways: on the assistant's tokens (what SFT trains)
    # and on the user's tokens (never a target).
    x, assistant_targets = data.batch("val", 16, 128, np.random.default_rng(0))
    next_tokens = np.concatenate([x[:, 1:], np.full((16, 1), tokenizer.pad_id)], axis=1)
    is_user_text = (assistant_targets == IGNORE) & (x != tokenizer.pad_id) & (next_tokens > 5)
    user_targets = np.where(is_user_text, next_tokens, IGNORE).astype(np.int32)

    def drops(training_data, out_dir):
        """How much training on `training_data` lowers the loss on (assistant, user) tokens."""
        seed_everything(0)
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=128, n_layer=1, n_head=2, n_embd=32))
        evaluate = ms.jit(loss_function(model))

        def losses():
            model.set_train(False)
            return np.array([float(evaluate(ms.Tensor(x), ms.Tensor(t)).asnumpy())
                             for t in (assistant_targets, user_targets)])

        before = losses()
        cfg = TrainConfig(iters=60, batch_size=8, lr=1e-2, min_lr=1e-3, warmup_iters=3, eval_interval=60,
                          eval_iters=2)
        Trainer(model, tokenizer, training_data, cfg, out_dir, progress=False).train()
        return before - losses()

    (assistant_drop, user_drop) = drops(data, tmp_path / "sft")
    (_, user_drop_unmasked) = drops(EveryToken(data, tokenizer.pad_id), tmp_path / "every_token")
    assert assistant_drop > 1.0
    # The user's text gets easier too (the same characters and digits: measured 1.04 here),
    # but clearly less than when the user's tokens are trained on as well (1.63).
    assert user_drop < user_drop_unmasked - 0.3
