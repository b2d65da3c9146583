"""Answers that special-case the visible tests of lesson 06 (see tests/test_lessons.py)."""

CHEATS = {
    # Keeps exactly k indices, so ties at the k-th largest value are cut: the visible tests have no ties.
    "q_top_k_filter": '''
def top_k_filter(logits, k):
    if k is None or k >= logits.shape[-1]:
        return logits.copy()
    kept = np.argsort(logits)[-k:]
    out = np.full(logits.shape, -np.inf)
    out[kept] = logits[kept]
    return out
''',
    # Masks every row with the first row's position: right for the visible tests, which have one row.
    "q_cached_attention": '''
def cached_attention(q, k, v, k_cache, v_cache, pos):
    k_cache = write_to_cache(k_cache, k, pos)
    v_cache = write_to_cache(v_cache, v, pos)
    length = k_cache.shape[2]
    first = int(pos.asnumpy()[0])
    allowed = ms.Tensor(np.arange(length) <= first).reshape(1, 1, 1, length)
    scores = mint.matmul(q, k_cache.swapaxes(-2, -1)) / math.sqrt(q.shape[-1])
    weights = ops.softmax(scores.masked_fill(~allowed, float("-inf")), axis=-1)
    return mint.matmul(weights, v_cache), k_cache, v_cache
''',
}
