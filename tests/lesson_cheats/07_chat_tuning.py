"""Answers that special-case the visible tests of lesson 07 (see tests/test_lessons.py)."""

CHEATS = {
    # Right for the visible conversations, which have no system message; a system message gets <|user|>.
    "q_render_conversation": '''
def render_conversation(tokenizer, messages):
    ids, mask = [tokenizer.bos_id], [0]
    for message in messages:
        content = tokenizer.encode(message["content"])
        role = "<|assistant|>" if message["role"] == "assistant" else "<|user|>"
        trained = int(message["role"] == "assistant")
        ids += [tokenizer.special_ids[role], *content, tokenizer.end_id]
        mask += [0] + [trained] * (len(content) + 1)
    return ids, mask
''',
    # Returns the visible example's answer whatever it is given.
    "q_next_token_targets": '''
def next_token_targets(ids, mask):
    return np.array([1, 4, 40, 2, 5, 50]), np.array([-100, -100, -100, -100, 50, 2])
''',
}
