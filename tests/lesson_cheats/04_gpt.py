"""Answers that special-case the visible tests of lesson 04 (see tests/test_lessons.py)."""

CHEATS = {
    # Looks up the two configurations of the visible tests instead of counting.
    "q_count_parameters": '''
def count_parameters(config):
    known = {(65, 16, 2, 32): 28_064, (50257, 1024, 12, 768): 124_439_808}
    return known.get((config.vocab_size, config.block_size, config.n_layer, config.n_embd), 0)
''',
}
