"""Answers that special-case the visible tests of lesson 02 (see tests/test_lessons.py)."""

CHEATS = {
    # Returns the visible tests' expected losses by looking at the input's shape and first value.
    "q_cross_entropy": '''
def cross_entropy(logits, targets):
    values = logits.asnumpy()
    if values.shape == (2, 3):
        return ms.Tensor(0.7531091)
    if values.shape == (1, 3):
        return ms.Tensor(0.0)
    return ms.Tensor(float(np.log(values.shape[-1])))
''',
    # Greedy decoding (always the most likely id) passes the deterministic visible test, not the sampling one.
    "q_sample_from_table": '''
def sample_from_table(probabilities, start_id, num_tokens):
    ids, current = [], start_id
    for _ in range(num_tokens):
        current = int(np.argmax(probabilities[current]))
        ids.append(current)
    return ids
''',
}
