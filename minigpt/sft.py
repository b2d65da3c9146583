"""Supervised fine-tuning (SFT): teach a pretrained GPT to answer in the chat format.

A pretrained model continues text. To make it answer, it is trained further on
conversations rendered with the chat template, and the loss counts only the
assistant's tokens: the model learns to write answers, not to imitate users.

Conversations are short, so several are packed into each row of block_size
tokens (fewer wasted positions than padding each one); what is left of a row
is padding, which the loss ignores.
"""

from pathlib import Path

import numpy as np

from minigpt.chat import render_conversation
from minigpt.checkpoint import checkpoint_dir, has_checkpoint, load_checkpoint
from minigpt.tokenizer import load_tokenizer
from minigpt.train import Trainer

IGNORE = -100  # target value the cross-entropy loss skips


class ChatData:
    """Rendered conversations for each split, sampled as packed (x, y) batches for `Trainer`.

    A split may be empty when it is not used (evaluation needs only "val").
    """

    chat_tuned = True  # recorded in the checkpoint, so that `chat` can tell a chat model from a text model

    def __init__(self, tokenizer, train_conversations, val_conversations):
        self.pad_id = tokenizer.pad_id
        self.splits = {
            "train": [render_conversation(tokenizer, c) for c in train_conversations],
            "val": [render_conversation(tokenizer, c) for c in val_conversations],
        }

    def batch(self, split, batch_size, block_size, rng):
        """`batch_size` rows, each packed with randomly drawn whole conversations.

        x holds the token ids, y the next token wherever the loss should count
        (an assistant token follows) and IGNORE elsewhere.
        """
        rendered = self.splits[split]
        if not rendered:
            raise ValueError(f"no {split} conversations to draw a batch from")
        x = np.full((batch_size, block_size), self.pad_id, np.int32)
        y = np.full((batch_size, block_size), IGNORE, np.int32)
        for row in range(batch_size):
            filled = 0
            while True:
                ids, mask = rendered[rng.integers(len(rendered))]
                if len(ids) > block_size + 1:
                    raise ValueError(f"a conversation of {len(ids)} tokens does not fit in block_size "
                                     f"{block_size}: use a larger block or shorter conversations")
                # A conversation of n tokens gives n - 1 (input, next token) pairs.
                if filled + len(ids) - 1 > block_size:
                    break
                n = len(ids) - 1
                x[row, filled:filled + n] = ids[:-1]
                targets = np.array(ids[1:], np.int32)
                y[row, filled:filled + n] = np.where(np.array(mask[1:]) == 1, targets, IGNORE)
                filled += n
        return x, y


class Rehearsal:
    """Chat batches in which the last `rows` rows of every training batch are windows of
    pretraining text (a `TokenSplits`), trained on every token.

    Every chat-tuning step moves the weights that hold what pretraining read, and
    what is not rehearsed fades (catastrophic forgetting). Mixing some of the
    pretraining text into chat tuning keeps it, as nanochat's midtraining does;
    evaluation batches ("val") stay conversations only.
    """

    chat_tuned = True

    def __init__(self, chats, text, rows):
        self.chats, self.text, self.rows = chats, text, rows

    def batch(self, split, batch_size, block_size, rng):
        x, y = self.chats.batch(split, batch_size, block_size, rng)
        rows = min(self.rows, batch_size) if split == "train" else 0
        if rows:
            x[-rows:], y[-rows:] = self.text.batch("train", rows, block_size, rng)
        return x, y


def finetune(pretrained, train_conversations, val_conversations, out_dir, cfg, progress=True, rehearse=None):
    """Chat-tune the model saved in `pretrained` and save it to `out_dir`; return whether it finished.

    `rehearse`, a pair (pretraining text as `minigpt.data.TokenSplits` of token ids,
    rows), gives that many rows of every batch to the pretraining text (`Rehearsal`).
    If `out_dir` already holds a checkpoint (an interrupted run), training
    continues from it with the run's own settings.
    """
    def data(tokenizer):
        chats = ChatData(tokenizer, train_conversations, val_conversations)
        return Rehearsal(chats, *rehearse) if rehearse else chats

    if has_checkpoint(out_dir):
        tokenizer = load_tokenizer(checkpoint_dir(out_dir) / "tokenizer.json")
        return Trainer.resume(out_dir, data(tokenizer), progress=progress).train()
    model, tokenizer, _ = load_checkpoint(pretrained)
    return Trainer(model, tokenizer, data(tokenizer), cfg, Path(out_dir), progress=progress).train()
