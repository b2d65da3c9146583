"""Answers that pass the visible tests of lesson 08 but not the hidden ones (see tests/test_lessons.py)."""

CHEATS = {
    # "overall" as the mean of the skills' accuracies: right only when every skill has as many questions,
    # as in the visible tests.
    "q_accuracy_by_skill": '''
def accuracy_by_skill(examples, replies):
    if len(examples) != len(replies):
        raise ValueError("one reply per example")
    scores = {}
    for example, reply in zip(examples, replies):
        scores.setdefault(example["skill"], []).append(reply.strip() == final_answer(example).strip())
    accuracy = {skill: sum(right) / len(right) for skill, right in scores.items()}
    accuracy["overall"] = sum(accuracy.values()) / len(accuracy)
    return accuracy
''',
    # Multiplies by the mask instead of selecting: 0 * inf is nan, so a padding loss of inf (never in the
    # visible tests) poisons the result.
    "q_perplexity": '''
def masked_perplexity(losses, mask):
    losses, mask = np.asarray(losses, dtype=np.float64), np.asarray(mask, dtype=np.float64)
    if losses.shape != mask.shape or mask.sum() == 0:
        raise ValueError("nothing to measure")
    return float(np.exp((losses * mask).sum() / mask.sum()))
''',
}
