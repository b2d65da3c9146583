"""Text generation: pick the next token again and again, with or without a KV cache.

Decoding strategies act on one vector of logits, in NumPy, so each is a few
readable lines: greedy (temperature 0), temperature, top-k and top-p.

The KV cache: a transformer recomputes the keys and values of every earlier
token at every step, although they never change. Keeping them in a cache makes
each new token cost one position instead of the whole context. The cache has a
fixed length (block_size), so one compiled graph serves every step.
"""

import math
import sys

import numpy as np
import mindspore as ms


def top_k_filter(logits, k):
    """Keep the k largest logits; the rest become -inf (never sampled)."""
    if k is None or k >= logits.shape[-1]:
        return logits
    kth_largest = np.partition(logits, -k)[-k]
    return np.where(logits < kth_largest, -np.inf, logits)


def top_p_filter(logits, p):
    """Keep the most likely tokens whose probabilities add up to at least p (nucleus sampling)."""
    if p is None or p >= 1.0:
        return logits
    order = np.argsort(-logits, kind="stable")
    probs = softmax(logits[order])
    # Keep a token if the probability mass *before* it is still below p: the
    # most likely token is always kept, and the one that crosses p is too.
    keep_sorted = (np.cumsum(probs) - probs) < p
    keep = np.zeros_like(keep_sorted)
    keep[order] = keep_sorted
    return np.where(keep, logits, -np.inf)


def softmax(logits):
    exp = np.exp(logits - np.max(logits))
    return exp / exp.sum()


def check_sampling(temperature=1.0, top_k=None, top_p=None, max_new_tokens=1):
    """Raise ValueError, saying which setting is wrong, unless these settings can sample."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be a number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and not (isinstance(top_k, int) and top_k >= 1):
        raise ValueError(f"top_k must be a whole number >= 1 (or None: all tokens), got {top_k!r}")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"top_p must be in (0, 1] (or None: all tokens), got {top_p!r}")
    if not (isinstance(max_new_tokens, int) and max_new_tokens >= 1):
        raise ValueError(f"max_new_tokens must be a whole number >= 1, got {max_new_tokens!r}")


def sample_token(logits, temperature=1.0, top_k=None, top_p=None, rng=None):
    """Choose the next token id from a vector of logits; temperature 0 means greedy."""
    check_sampling(temperature, top_k, top_p)
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(logits))
    logits = top_p_filter(top_k_filter(logits / temperature, top_k), top_p)
    rng = rng if rng is not None else np.random.default_rng()
    return int(rng.choice(logits.shape[-1], p=softmax(logits)))


class _Compiled(ms.nn.Cell):
    """One method of the model as a compiled graph; shapes are fixed, so it compiles once."""

    def __init__(self, model, method):
        super().__init__(auto_prefix=False)  # keep the model's parameter names as they are
        self.model = model
        self.method = method
        self.construct = ms.jit(self.construct)

    def construct(self, *args):
        return getattr(self.model, self.method)(*args)


class Generator:
    """Generates continuations of token-id prompts with a trained GPT."""

    def __init__(self, model, use_cache=True):
        self.model = model
        self.use_cache = use_cache
        self.block_size = model.config.block_size
        self._prefill = _Compiled(model, "prefill")
        self._decode_step = _Compiled(model, "decode_step")

    def _prefill_context(self, ids):
        """Run the whole (cropped) context at once: its next-token logits and a KV cache.

        The context is padded to block_size, so one compiled graph serves every length.
        """
        context = ids[-self.block_size:]
        padded = np.zeros((1, self.block_size), np.int32)
        padded[0, : len(context)] = context
        logits, k_cache, v_cache = self._prefill(ms.Tensor(padded))
        return logits[0, len(context) - 1].asnumpy(), k_cache, v_cache

    def _cached_logits(self, ids):
        """Logits after each new token, reusing the KV cache while the context fits."""
        logits, k_cache, v_cache = self._prefill_context(ids)
        while True:
            ids = yield logits
            pos = len(ids) - 1  # position of the newest token
            if pos >= self.block_size:
                # The window slides: every position shifts, so the cache no longer
                # applies. Recompute the cropped context (exactly what no cache does).
                logits, _, _ = self._prefill_context(ids)
                continue
            token = ms.Tensor(np.array([[ids[pos]]], np.int32))
            # mutable(): the caches are inputs that change, not constants to compile into the graph.
            step_logits, k_cache, v_cache = self._decode_step(
                token, ms.Tensor([pos], ms.int32), ms.mutable(k_cache), ms.mutable(v_cache))
            logits = step_logits[0, 0].asnumpy()

    def _uncached_logits(self, ids):
        while True:
            ids = yield self._prefill_context(ids)[0]

    def generate(self, prompt_ids, max_new_tokens=100, temperature=1.0, top_k=None, top_p=None,
                 stop_ids=(), seed=None, on_token=None):
        """New token ids after `prompt_ids` (the prompt is not included).

        Stops after max_new_tokens, or at a token in stop_ids (not included).
        `on_token(id)` is called as each token is chosen, for streaming output.
        """
        ids = [int(i) for i in prompt_ids]
        if not ids:
            raise ValueError("the prompt is empty: give at least one token (e.g. the <|bos|> token)")
        check_sampling(temperature, top_k, top_p)
        if not (isinstance(max_new_tokens, int) and max_new_tokens >= 0):
            raise ValueError(f"max_new_tokens must be a whole number >= 0, got {max_new_tokens!r}")
        self.model.set_train(False)
        rng = np.random.default_rng(seed)
        steps = self._cached_logits(list(ids)) if self.use_cache else self._uncached_logits(list(ids))
        new = []
        for i in range(max_new_tokens):
            logits = next(steps) if i == 0 else steps.send(ids)
            token = sample_token(logits, temperature, top_k, top_p, rng)
            if token in stop_ids:
                break
            new.append(token)
            if on_token is not None:
                on_token(token)
            ids.append(token)
        return new

    def greedy_batch(self, prompts, max_new_tokens, stop_ids=(), batch_size=32, on_done=None):
        """Greedy continuations of many prompts: what `generate` gives with temperature 0,
        one list of new ids per prompt, computed `batch_size` rows at a time.

        Evaluating hundreds of questions one by one pays a whole forward pass per
        token for a single row; a batch shares it. `max_new_tokens` is one number
        or one per prompt. `on_done(n)` is called as n more prompts are finished
        (for a progress bar).
        """
        budgets = [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
        if len(budgets) != len(prompts):
            raise ValueError(f"got {len(budgets)} max_new_tokens for {len(prompts)} prompts")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.model.set_train(False)
        results = [None] * len(prompts)
        batched = []
        for i, (prompt, budget) in enumerate(zip(prompts, budgets)):
            if prompt and len(prompt) + budget <= self.block_size:
                batched.append(i)
            else:  # empty (refused there), or the window would slide: the one-row path handles it
                results[i] = self.generate(prompt, budget, temperature=0, stop_ids=stop_ids)
                if on_done is not None:
                    on_done(1)
        batched.sort(key=lambda i: budgets[i])  # rows that stop early share batches: fewer idle steps
        for start in range(0, len(batched), batch_size):
            rows = batched[start:start + batch_size]
            new = self._greedy_rows([prompts[i] for i in rows], [budgets[i] for i in rows], stop_ids, batch_size)
            for i, ids in zip(rows, new):
                results[i] = ids
            if on_done is not None:
                on_done(len(rows))
        return results

    def _greedy_rows(self, prompts, budgets, stop_ids, batch_size):
        """Greedy decoding of up to batch_size prompts that fit in the context with their budgets.

        Every call has the same shapes (unused rows are padding), so it compiles once.
        """
        padded = np.zeros((batch_size, self.block_size), np.int32)
        pos = np.zeros(batch_size, np.int32)  # where each row's next token goes
        for row, prompt in enumerate(prompts):
            padded[row, :len(prompt)] = prompt
            pos[row] = len(prompt)
        logits, k_cache, v_cache = self._prefill(ms.Tensor(padded))
        tokens = logits.asnumpy()[np.arange(batch_size), np.maximum(pos - 1, 0)].argmax(-1).astype(np.int32)
        new = [[] for _ in prompts]
        done = [budget == 0 for budget in budgets]
        while True:
            for row in range(len(prompts)):
                if not done[row]:
                    if int(tokens[row]) in stop_ids:
                        done[row] = True
                    else:
                        new[row].append(int(tokens[row]))
                        done[row] = len(new[row]) == budgets[row]
            if all(done):
                return new
            # Rows that are done (or unused) keep computing at a valid position; rows never mix.
            generated = np.array([len(ids) for ids in new] + [0] * (batch_size - len(new)))
            at = np.clip(pos + generated - 1, 0, self.block_size - 1).astype(np.int32)
            step_logits, k_cache, v_cache = self._decode_step(
                ms.Tensor(tokens.reshape(-1, 1)), ms.Tensor(at), ms.mutable(k_cache), ms.mutable(v_cache))
            tokens = step_logits.asnumpy()[:, 0].argmax(-1).astype(np.int32)


class TextStream:
    """Turns generated token ids into text pieces as soon as they are complete.

    Use an instance as `on_token`: it calls `on_text(piece)` with each new piece
    of text. A byte-level token can end in the middle of a multi-byte character
    (Chinese, emoji); such a piece waits for the tokens that complete it.
    """

    def __init__(self, tokenizer, on_text):
        self.tokenizer, self.on_text = tokenizer, on_text
        self.ids, self.shown = [], 0

    def __call__(self, token):
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids)
        if not text.endswith("\ufffd"):
            self.on_text(text[self.shown:])
            self.shown = len(text)

    def flush(self):
        """Emit whatever is left (an incomplete character shows as U+FFFD)."""
        text = self.tokenizer.decode(self.ids)
        if len(text) > self.shown:
            self.on_text(text[self.shown:])
            self.shown = len(text)


def print_sample(model, tokenizer, prompt, max_new_tokens=200, temperature=0.8, top_k=None, top_p=None,
                 seed=None, use_cache=True, out=None):
    """Print `prompt`, then its continuation as it is generated (until <|end|> or max_new_tokens)."""
    out = out or sys.stdout

    def show(piece):
        out.write(piece)
        out.flush()

    show(prompt)
    stream = TextStream(tokenizer, show)
    Generator(model, use_cache=use_cache).generate(
        [tokenizer.bos_id] + tokenizer.encode(prompt), max_new_tokens, temperature, top_k, top_p,
        stop_ids=(tokenizer.end_id,), seed=seed, on_token=stream)
    stream.flush()
    show("\n")
