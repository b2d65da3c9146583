"""Decoding strategies on reference arrays, and the KV cache against full recomputation."""

import numpy as np
import pytest

from minigpt.device import seed_everything
from minigpt.generate import Generator, sample_token, top_k_filter, top_p_filter
from minigpt.model import GPT, GPTConfig

LOGITS = np.log(np.array([0.1, 0.4, 0.05, 0.25, 0.2]))


def test_top_k_keeps_the_k_largest():
    kept = np.isfinite(top_k_filter(LOGITS, 2))
    assert kept.tolist() == [False, True, False, True, False]
    assert np.array_equal(top_k_filter(LOGITS, 10), LOGITS)


def test_top_p_keeps_the_smallest_set_reaching_p():
    # sorted: 0.4, 0.25, 0.2, 0.1, 0.05 -> cumulative 0.4, 0.65, 0.85, ...
    assert np.isfinite(top_p_filter(LOGITS, 0.6)).tolist() == [False, True, False, True, False]
    assert np.isfinite(top_p_filter(LOGITS, 0.85)).tolist() == [False, True, False, True, True]
    assert np.isfinite(top_p_filter(LOGITS, 0.1)).tolist() == [False, True, False, False, False]
    assert np.array_equal(top_p_filter(LOGITS, 1.0), LOGITS)


def test_greedy_takes_the_argmax_and_sampling_follows_the_probabilities():
    assert sample_token(LOGITS, temperature=0) == 1
    rng = np.random.default_rng(0)
    draws = [sample_token(LOGITS, temperature=1.0, rng=rng) for _ in range(4000)]
    np.testing.assert_allclose(np.bincount(draws, minlength=5) / 4000, np.exp(LOGITS), atol=0.03)
    assert set(sample_token(LOGITS, top_k=2, rng=rng) for _ in range(200)) == {1, 3}


def test_low_temperature_sharpens_the_distribution():
    rng = np.random.default_rng(1)
    cold = [sample_token(LOGITS, temperature=0.1, rng=rng) for _ in range(500)]
    assert np.mean(np.array(cold) == 1) > 0.95


@pytest.fixture(scope="module")
def model():
    seed_everything(3)
    m = GPT(GPTConfig(vocab_size=40, block_size=24, n_layer=2, n_head=2, n_embd=32))
    m.set_train(False)
    return m


@pytest.fixture(scope="module")
def generators(model):
    """Compiling takes seconds, so the tests share one generator of each kind."""
    return Generator(model, use_cache=True), Generator(model, use_cache=False)


@pytest.mark.slow
@pytest.mark.parametrize("prompt_length, new_tokens", [(1, 20), (5, 30)])  # the second crosses block_size
def test_kv_cache_output_equals_full_recomputation(generators, prompt_length, new_tokens):
    prompt = list(range(7, 7 + prompt_length))
    with_cache, without_cache = generators
    for temperature in (0, 1.0):  # greedy, and sampling with the same seed
        cached = with_cache.generate(prompt, new_tokens, temperature, seed=11)
        assert cached == without_cache.generate(prompt, new_tokens, temperature, seed=11)
    assert len(set(cached)) > 5  # the sampled sequence varies, so the comparison means something


@pytest.fixture(scope="module", params=[("learned", False), ("rotary", False), ("rotary", True)],
                ids=["learned", "rotary", "rotary-document-mask"])
def lively_model(request):
    """A model whose greedy output varies (random weights at a larger scale), so that a
    token generated at a wrong position would change what follows."""
    import mindspore as ms

    positions, document_mask = request.param
    m = GPT(GPTConfig(vocab_size=40, block_size=24, n_layer=2, n_head=2, n_embd=32, positions=positions,
                      document_mask=document_mask))
    rng = np.random.default_rng(2)  # a seed whose greedy outputs vary for both kinds of positions
    for p in m.trainable_params():
        scale = 1.0 if "embedding" in p.name else 0.3
        p.set_data(ms.Tensor(rng.normal(0, scale, p.shape).astype(np.float32)))
    m.set_train(False)
    return m


def test_kv_cache_logits_match_the_forward_pass(lively_model):
    import mindspore as ms

    model = lively_model
    tokens = np.zeros((1, model.config.block_size), np.int32)  # a 3-token prompt, then padding
    tokens[0, :6] = [1, 14, 15, 9, 2, 6]  # <|bos|> first, as every prompt starts
    full = model(ms.Tensor(tokens[:, :6])).asnumpy()[0]
    prefill_logits, k, v = model.prefill(ms.Tensor(tokens))
    np.testing.assert_allclose(prefill_logits.asnumpy()[0, :3], full[:3], atol=1e-5)
    for pos in range(3, 6):
        logits, k, v = model.decode_step(ms.Tensor(tokens[:, pos:pos + 1]), ms.Tensor([pos], ms.int32), k, v)
        np.testing.assert_allclose(logits.asnumpy()[0, 0], full[pos], atol=1e-5)


def test_greedy_batch_gives_what_one_prompt_at_a_time_gives(lively_model):
    generator = Generator(lively_model)
    prompts = [[1, 2, 3], [5], list(range(4, 20)), [7, 8], [9] * 10, list(range(1, 23)), [30, 31]]
    budgets = [8, 20, 5, 0, 12, 6, 9]  # the sixth crosses block_size (24): the window slides
    one_by_one = [generator.generate(p, n, temperature=0, stop_ids=(26, 27)) for p, n in zip(prompts, budgets)]
    assert len({tuple(ids) for ids in one_by_one}) > 4 and any(len(ids) < n for ids, n in zip(one_by_one, budgets))
    # batches of 4: rows at different positions, a partly filled batch, and rows that stop early
    finished = []
    batched = generator.greedy_batch(prompts, budgets, stop_ids=(26, 27), batch_size=4, on_done=finished.append)
    assert batched == one_by_one
    assert sum(finished) == len(prompts)  # every prompt counted once, for a progress bar
    assert generator.greedy_batch(prompts[:2], 3) == [ids[:3] for ids in one_by_one[:2]]  # one budget for all
    with pytest.raises(ValueError, match="got 2 max_new_tokens for 7 prompts"):
        generator.greedy_batch(prompts, [1, 2])
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        generator.greedy_batch(prompts, budgets, batch_size=0)


def test_sampling_with_a_seed_repeats_and_streams_every_token(generators):
    streamed = []
    generator = generators[0]
    first = generator.generate([1], 15, temperature=1.0, top_p=0.9, seed=5, on_token=streamed.append)
    assert first == generator.generate([1], 15, temperature=1.0, top_p=0.9, seed=5)
    assert streamed == first


def test_generation_stops_before_a_stop_token(generators):
    free = generators[0].generate([1], 20, temperature=0)
    stop = free[5]
    stopped = generators[0].generate([1], 20, temperature=0, stop_ids=(stop,))
    assert stopped == free[: free.index(stop)]


def test_empty_prompt_is_refused(generators):
    with pytest.raises(ValueError, match="the prompt is empty"):
        generators[0].generate([], 5)


def test_a_generator_leaves_the_models_parameter_names_alone(model, generators):
    # Checkpoints are keyed by these names: wrapping the model for compilation must not prefix them.
    assert [p.name for p in model.get_parameters()][:2] == ["wte.embedding_table", "wpe.embedding_table"]


@pytest.mark.parametrize("setting, message", [
    (dict(top_p=0), "top_p must be in"), (dict(top_k=0), "top_k must be"), (dict(top_k=-1), "top_k must be"),
    (dict(temperature=float("nan")), "temperature must be"), (dict(temperature=-1.0), "temperature must be"),
    (dict(top_p=1.5), "top_p must be"),
])
def test_sampling_settings_that_cannot_sample_are_refused_by_the_library(setting, message):
    with pytest.raises(ValueError, match=message):
        sample_token(np.zeros(5), **{"temperature": 1.0, **setting})
