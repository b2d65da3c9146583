"""Answers that special-case the visible tests of lesson 00 (see tests/test_lessons.py)."""

CHEATS = {
    # Hard-codes the probabilities the visible tests expect; anything else gets a uniform answer.
    "q_softmax": '''
def softmax(logits):
    values = logits.asnumpy()
    if values.shape == (2, 3):
        return ms.Tensor(np.array([[0.09003057, 0.24472847, 0.66524096], [1 / 3, 1 / 3, 1 / 3]], np.float32))
    if values.shape == (3,):
        return ms.Tensor(np.array([0.09003057, 0.24472847, 0.66524096], np.float32))
    return ms.Tensor(np.full(values.shape, 1.0 / values.shape[-1], np.float32))
''',
    # Returns the visible example's numbers whatever the inputs.
    "q_gradient_step": '''
def gradient_step(w, b, x, y, learning_rate):
    return ms.Tensor(56 / 3), ms.Tensor([[1.8666667]]), ms.Tensor([0.8])
''',
}
