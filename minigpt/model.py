"""A GPT language model in MindSpore, small enough to read in one sitting.

The architecture follows GPT-2 (and nanoGPT): token and position embeddings,
a stack of pre-LayerNorm transformer blocks (causal multi-head self-attention,
then a GELU MLP, each wrapped in a residual connection), a final LayerNorm, and
an output layer that shares its weights with the token embedding.

Every op used here has a CPU kernel in MindSpore 2.10 (several `mint` ops do
not), so the same code trains on a laptop, a GPU or an Ascend NPU. LayerNorm,
GELU, attention's softmax and the document mask come from `minigpt.kernels`: the
same maths as MindSpore's ops, with fused kernels on a CPU, where MindSpore's own
are slow.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np
import mindspore as ms
from mindspore import mint, nn, ops
from mindspore.common.initializer import Normal

from minigpt.kernels import GELU, DocumentMask, LayerNorm, MaskedSoftmax
from minigpt.options import option

POSITIONS = ("learned", "rotary")


@dataclass
class GPTConfig:
    vocab_size: int = 512  # set from the tokenizer
    block_size: int = option(128, "longest context the model can see, in tokens")
    n_layer: int = option(4, "transformer blocks")
    n_head: int = option(4, "attention heads")
    n_embd: int = option(128, "embedding width")
    dropout: float = option(0.0, "dropout probability")
    # How the model knows where each token is: "learned" adds a trained vector per
    # position (GPT-2); "rotary" turns queries and keys by a position-dependent
    # angle (RoPE, as in LLaMA), so attention sees distances: see `rotate`.
    positions: str = option("learned", "position embeddings: learned (GPT-2) or rotary (RoPE)", choices=POSITIONS)
    # Chat tuning packs several conversations into one row, each starting with
    # <|bos|>. With document_mask, a token attends only to its own document: what
    # another conversation said cannot leak into the answer. See `GPT.attention_mask`.
    document_mask: bool = option(False, "each <|bos|> starts a document that attends only to itself")
    # Biases in the linear layers, as GPT-2 has. Without them (as in LLaMA, or nanoGPT's
    # bias=False) a CPU step is about 6% faster, because each bias costs kernels of its own
    # for the gradient, the optimizer and clipping (docs/performance.md).
    bias: bool = option(True, "biases in the linear layers, as GPT-2 (--no-bias trains about 6% faster)")
    bos_id: int = 1  # the <|bos|> id, the same in every minigpt tokenizer; the document mask splits at it

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {', '.join(map(repr, POSITIONS))}, got {self.positions!r}")

    def to_dict(self):
        return asdict(self)


def rotary_tables(block_size, head_dim, base=10000.0):
    """cos and sin of the rotation angle of every (position, feature), (block_size, head_dim) each.

    Feature i and feature i + head_dim/2 form a pair that turns by position * base^(-2i/head_dim):
    fast-turning pairs tell near positions apart, slow ones far positions.
    """
    half = head_dim // 2
    frequencies = base ** (-np.arange(half) / half)
    angles = np.outer(np.arange(block_size), frequencies)
    angles = np.concatenate([angles, angles], axis=1)  # both features of a pair turn by the same angle
    return ms.Tensor(np.cos(angles), ms.float32), ms.Tensor(np.sin(angles), ms.float32)


def rotate(x, cos, sin):
    """Rotary position embedding (RoPE): turn each feature pair of x (..., T, head_dim) by its angle.

    A query turned by angle(i) and a key turned by angle(j) have a dot product that
    depends only on i - j: attention sees how far back a token is, wherever the two
    stand. "The token just before me" is then one pattern to learn, not one per position.
    """
    first, second = ops.split(x, x.shape[-1] // 2, axis=-1)
    return x * cos + ops.cat((-second, first), axis=-1) * sin


def linear(n_in, n_out, config, residual=False):
    """A linear layer with GPT-2's initialisation: weights from N(0, 0.02), biases 0.

    MindSpore's default bias is random (uniform in ±1/sqrt(n_in)): with it, lesson
    7's model answered 23% of held-out questions instead of 63% after the same
    850 steps (docs/performance.md).
    The projections back into the residual stream get a smaller std, so the
    stream does not grow with depth (GPT-2's "scaled residual init").
    """
    std = 0.02 / math.sqrt(2 * config.n_layer) if residual else 0.02
    return nn.Dense(n_in, n_out, weight_init=Normal(std), bias_init="zeros", has_bias=config.bias)


class CausalSelfAttention(nn.Cell):
    """Each position looks at itself and earlier positions, through several heads."""

    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        # One matrix computes queries, keys and values together: one matmul, not three.
        self.c_attn = linear(config.n_embd, 3 * config.n_embd, config)
        self.c_proj = linear(config.n_embd, config.n_embd, config, residual=True)
        # scores = q @ k^T in one kernel, without first writing k^T out (faster on CPU).
        self.query_key_scores = ops.BatchMatMul(transpose_b=True)
        # weights @ v with BatchMatMul, not mint.matmul: its backward multiplies by the
        # transposed weights in place, where mint.matmul's first copies the (T, T)
        # weights out transposed (6 ms a layer in the chat model's step).
        self.weights_values = ops.BatchMatMul()
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.softmax = MaskedSoftmax()
        self.attn_dropout = nn.Dropout(p=config.dropout)
        self.resid_dropout = nn.Dropout(p=config.dropout)
        self.causal = causal_mask(config.block_size)
        self.positions = ms.Tensor(np.arange(config.block_size, dtype=np.int32))
        self.rotary = config.positions == "rotary"
        if self.rotary:
            self.cos, self.sin = rotary_tables(config.block_size, self.head_dim)

    def split_heads(self, x):
        """(B, T, C) -> queries, keys, values, each (B, n_head, T, head_dim)."""
        B, T, _ = x.shape
        qkv = self.c_attn(x).reshape(B, T, 3, self.n_head, self.head_dim)
        # unstack, not qkv[0], qkv[1], qkv[2]: on a CPU, each index is a slow strided copy.
        q, k, v = ops.unstack(qkv.transpose(2, 0, 3, 1, 4))
        return q, k, v

    def attend(self, q, k, v, mask):
        """Scaled dot-product attention. `mask` is added to the scores: 0 where a
        query may see a key, -inf where it may not.

        The queries are scaled rather than the (T, T) scores: the same numbers, with
        T / head_dim times fewer multiplications.
        """
        scores = self.query_key_scores(q * self.scale, k)
        weights = self.softmax(scores, mask)
        y = self.weights_values(self.attn_dropout(weights), v)  # (B, n_head, T, head_dim)
        B, _, T, _ = y.shape
        y = y.transpose(0, 2, 1, 3).reshape(B, T, self.n_head * self.head_dim)
        return self.resid_dropout(self.c_proj(y)), weights

    def construct(self, x, mask=None):
        """Returns the output, the attention weights (for plots) and the keys and
        values (which become the KV cache when generating). `mask` (T, T) or
        (B, 1, T, T), as `GPT.attention_mask` makes it, says which keys each query
        sees; by default the causal rule."""
        T = x.shape[1]
        q, k, v = self.split_heads(x)
        if self.rotary:
            q, k = rotate(q, self.cos[:T], self.sin[:T]), rotate(k, self.cos[:T], self.sin[:T])
        if mask is None:
            mask = self.causal[:T, :T]
        y, weights = self.attend(q, k, v, mask)
        return y, weights, k, v

    def decode(self, x, k_cache, v_cache, pos):
        """Attention for one new token per row, row b at position pos[b], reusing cached keys and values.

        The caches have a fixed length (block_size), so a compiled graph serves
        every position: the new key and value are written at `pos`, and keys
        after `pos` (not yet generated) are masked out.
        """
        q, k, v = self.split_heads(x)
        pos = pos.reshape(-1, 1)  # (B, 1)
        if self.rotary:
            cos, sin = self.cos[pos].reshape(-1, 1, 1, self.head_dim), self.sin[pos].reshape(-1, 1, 1, self.head_dim)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        write_here = (self.positions == pos).reshape(-1, 1, self.positions.shape[0], 1)
        k_cache = mint.where(write_here, k, k_cache)
        v_cache = mint.where(write_here, v, v_cache)
        allowed = (self.positions <= pos).reshape(-1, 1, 1, self.positions.shape[0])
        y, _ = self.attend(q, k_cache, v_cache, additive_mask(allowed))
        return y, k_cache, v_cache


def additive_mask(allowed):
    """A boolean mask (True: the query may see the key) as 0 and -inf, to add to attention scores."""
    return ops.zeros(allowed.shape, ms.float32).masked_fill(ops.logical_not(allowed), float("-inf"))


def causal_mask(block_size):
    """Position i may attend to position j when j <= i: 0 there, -inf elsewhere, (block_size, block_size)."""
    return ms.Tensor(np.where(np.tril(np.ones((block_size, block_size), dtype=bool)), 0.0, -np.inf), ms.float32)


class MLP(nn.Cell):
    """Position-wise feed-forward network: widen 4x, GELU, project back."""

    def __init__(self, config):
        super().__init__()
        self.c_fc = linear(config.n_embd, 4 * config.n_embd, config)
        self.c_proj = linear(4 * config.n_embd, config.n_embd, config, residual=True)
        self.gelu = GELU()
        self.dropout = nn.Dropout(p=config.dropout)

    def construct(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Cell):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def construct(self, x, mask=None):
        attn_out, weights, k, v = self.attn(self.ln_1(x), mask)
        x = x + attn_out
        x = x + self.mlp(self.ln_2(x))
        return x, weights, k, v

    def decode(self, x, k_cache, v_cache, pos):
        attn_out, k_cache, v_cache = self.attn.decode(self.ln_1(x), k_cache, v_cache, pos)
        x = x + attn_out
        x = x + self.mlp(self.ln_2(x))
        return x, k_cache, v_cache


class GPT(nn.Cell):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd, embedding_table=Normal(0.02))
        self.learned_positions = config.positions == "learned"  # else rotary, inside attention
        if self.learned_positions:
            self.wpe = nn.Embedding(config.block_size, config.n_embd, embedding_table=Normal(0.02))
        self.drop = nn.Dropout(p=config.dropout)
        self.blocks = nn.CellList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd)
        self.positions = ms.Tensor(np.arange(config.block_size, dtype=np.int32))
        self.causal = causal_mask(config.block_size)
        if config.document_mask:
            self.document_mask = DocumentMask(config.bos_id, config.block_size)

    def attention_mask(self, idx):
        """Which keys each query may see, as added to the scores (0: sees, -inf: not):
        (T, T), or (B, 1, T, T) with document_mask.

        With document_mask, every <|bos|> starts a new document, and position i
        sees position j only if j <= i and both are in the same document. Packed
        conversations then train as if each had a row of its own. (Generation expects
        one document per row, as every chat prompt is: the tokens it generates after a
        prompt that holds a second <|bos|> still see the whole prompt.)
        """
        T = idx.shape[1]
        if not self.config.document_mask:
            return self.causal[:T, :T]
        return self.document_mask(idx)

    def embed(self, idx, positions):
        x = self.wte(idx)
        if self.learned_positions:
            x = x + self.wpe(positions)
        return self.drop(x)

    def logits(self, x):
        """Final LayerNorm, then scores for every token of the vocabulary.

        The output layer reuses the token embedding matrix (weight tying): the
        same vector stands for a token on the way in and on the way out, which
        saves parameters and helps small models learn.
        """
        return mint.matmul(self.ln_f(x), self.wte.embedding_table.swapaxes(0, 1))

    def run_blocks(self, idx):
        """Token ids (B, T) -> final hidden states, plus each layer's attention weights, keys and values."""
        x = self.embed(idx, self.positions[: idx.shape[1]])
        mask = self.attention_mask(idx)  # once for all layers
        weights, keys, values = [], [], []
        for block in self.blocks:
            x, w, k, v = block(x, mask)
            weights.append(w)
            keys.append(k)
            values.append(v)
        return x, weights, keys, values

    def construct(self, idx):
        """Token ids (B, T) -> next-token logits (B, T, vocab_size)."""
        x, _, _, _ = self.run_blocks(idx)
        return self.logits(x)

    def attention_maps(self, idx):
        """The attention weights of every layer, (B, n_head, T, T) each, for plots."""
        return self.run_blocks(idx)[1]

    def prefill(self, idx):
        """Logits for a whole prompt, and its keys and values: a KV cache ready for `decode_step`.

        Given a prompt padded to block_size, the cache has its full length; the
        padding's keys are never attended to and get overwritten as tokens come.
        """
        x, _, keys, values = self.run_blocks(idx)
        return self.logits(x), tuple(keys), tuple(values)

    def decode_step(self, token, pos, k_cache, v_cache):
        """Logits for one new token per row, token (B, 1) at positions pos (B,), with the KV cache.

        Rows may stand at different positions (prompts of different lengths).
        k_cache and v_cache hold one (B, n_head, block_size, head_dim) tensor per
        layer; the updated caches are returned, so this function has no hidden state.
        """
        x = self.embed(token, pos.reshape(-1, 1))
        new_k, new_v = [], []
        for block, k, v in zip(self.blocks, k_cache, v_cache):
            x, k, v = block.decode(x, k, v, pos)
            new_k.append(k)
            new_v.append(v)
        return self.logits(x), tuple(new_k), tuple(new_v)

    def num_parameters(self, exclude_position_embeddings=False):
        """Parameter count; the tied output layer is counted once."""
        n = sum(p.size for p in self.trainable_params())
        if exclude_position_embeddings and self.learned_positions:
            n -= self.wpe.embedding_table.size
        return n


def cross_entropy_loss(logits, targets):
    """Mean next-token cross-entropy; targets equal to -100 are ignored (padding, masked tokens)."""
    vocab = logits.shape[-1]
    return ops.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1), ignore_index=-100)
