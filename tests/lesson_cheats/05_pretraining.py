"""Answers that special-case the visible tests of lesson 05 (see tests/test_lessons.py)."""

CHEATS = {
    # The schedule of the visible tests (1e-3 to 1e-4, 100 warmup steps, decay over 1,000), whatever the arguments.
    "q_lr_schedule": '''
def learning_rate(step, max_lr, min_lr, warmup_iters, decay_iters):
    if step < 100:
        return 1e-3 * (step + 1) / 101
    if step >= 1000:
        return 1e-4
    return 1e-4 + 0.5 * (1.0 + math.cos(math.pi * (step - 100) / 900)) * 9e-4
''',
    # Clips to a norm of 1.0, the max_norm of the visible tests, whatever max_norm says.
    "q_clip_grad_norm": '''
def clip_grad_norm(grads, max_norm):
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
    scale = 1.0 / max(norm, 1.0)
    return [g * scale for g in grads], norm
''',
    # The parameter names of the visible tests' model (2 blocks), without looking at the model.
    "q_decay_groups": '''
def decay_parameter_names(model):
    matrices = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"]
    vectors = ["ln_1.gamma", "ln_1.beta", "attn.c_attn.bias", "attn.c_proj.bias", "ln_2.gamma", "ln_2.beta",
               "mlp.c_fc.bias", "mlp.c_proj.bias"]
    decay = ["wte.embedding_table", "wpe.embedding_table"] + [f"blocks.{i}.{n}" for i in range(2) for n in matrices]
    no_decay = [f"blocks.{i}.{n}" for i in range(2) for n in vectors] + ["ln_f.gamma", "ln_f.beta"]
    return decay, no_decay
''',
}
