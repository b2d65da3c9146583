"""Answers that special-case the visible tests of lesson 03 (see tests/test_lessons.py)."""

CHEATS = {
    # Divides by sqrt(4) = 2 whatever the head size: right for the visible tests (head_dim 4) only.
    "q_attention": '''
def attention(q, k, v):
    weights = causal_softmax(mint.matmul(q, k.swapaxes(-2, -1)) * 0.5)
    return mint.matmul(weights, v), weights
''',
    # Assumes 4 heads, as in the visible tests.
    "q_multi_head": '''
class CausalSelfAttention(nn.Cell):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.c_attn = nn.Dense(n_embd, 3 * n_embd)
        self.c_proj = nn.Dense(n_embd, n_embd)

    def construct(self, x):
        B, T, C = x.shape
        qkv = self.c_attn(x).reshape(B, T, 3, 4, C // 4).transpose(2, 0, 3, 1, 4)
        output, weights = attention(qkv[0], qkv[1], qkv[2])
        return self.c_proj(output.transpose(0, 2, 1, 3).reshape(B, T, C)), weights
''',
}
