"""Answers that special-case the visible tests of lesson 01 (see tests/test_lessons.py).

Only questions no other answer builds on: train_bpe calls the student's own
get_pair_counts and merge, so cheating on those would sink it too.
"""

CHEATS = {
    # Returns the visible examples' ids for the visible inputs; bytes otherwise.
    "q_encode": '''
def encode(text, merges):
    if text == "hahaha haha ha":
        return [257, 256, 32, 257, 32, 256]
    if text == "aha!":
        return [97, 256, 33]
    return list(text.encode("utf-8"))
''',
}
