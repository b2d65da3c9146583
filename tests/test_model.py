"""The GPT's shapes, causality, document masks, weight tying, parameter count and attention maps."""

import numpy as np
import pytest
import mindspore as ms

from minigpt.device import seed_everything
from minigpt.model import GPT, GPTConfig, cross_entropy_loss, rotary_tables, rotate


@pytest.fixture(scope="module")
def model(tiny_config):
    seed_everything(0)
    m = GPT(tiny_config)
    m.set_train(False)
    return m


def ids(array):
    return ms.Tensor(np.asarray(array, dtype=np.int32))


def test_logits_shape(model, tiny_config):
    x = np.random.default_rng(0).integers(0, tiny_config.vocab_size, (3, 11))
    assert model(ids(x)).shape == (3, 11, tiny_config.vocab_size)


def test_changing_a_future_token_never_changes_earlier_logits(model, tiny_config):
    rng = np.random.default_rng(1)
    x = rng.integers(0, tiny_config.vocab_size, (1, tiny_config.block_size))
    y = x.copy()
    y[0, 9] = (x[0, 9] + 1) % tiny_config.vocab_size
    a, b = model(ids(x)).asnumpy(), model(ids(y)).asnumpy()
    np.testing.assert_allclose(a[0, :9], b[0, :9], atol=1e-6)
    assert np.abs(a[0, 9:] - b[0, 9:]).max() > 1e-4  # and later ones do change


def test_parameter_count_matches_the_formula(model, tiny_config):
    V, T, L, C = tiny_config.vocab_size, tiny_config.block_size, tiny_config.n_layer, tiny_config.n_embd
    per_block = 2 * 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C)
    expected = V * C + T * C + L * per_block + 2 * C  # no separate output matrix: it is tied
    assert model.num_parameters() == expected
    assert model.num_parameters(exclude_position_embeddings=True) == expected - T * C


def test_without_bias_the_linear_layers_lose_exactly_their_biases(tiny_config):
    from dataclasses import replace

    config = replace(tiny_config, bias=False)
    seed_everything(0)
    model = GPT(config)
    C, L = config.n_embd, config.n_layer
    assert model.num_parameters() == GPT(tiny_config).num_parameters() - L * (3 * C + C + 4 * C + C)
    # LayerNorm keeps its shift ("beta"); only the Dense layers lose their biases
    assert not [p.name for p in model.trainable_params() if p.name.endswith(".bias")]
    assert GPTConfig(**config.to_dict()) == config  # what a checkpoint saves and loads


def test_output_layer_is_tied_to_the_token_embedding(model, tiny_config):
    names = [p.name for p in model.trainable_params()]
    assert not any("lm_head" in n for n in names)
    x = ids([[1, 2, 3]])
    before = model(x).asnumpy()
    table = model.wte.embedding_table
    original = table.asnumpy().copy()
    table.set_data(ms.Tensor(original * 2))
    try:
        assert not np.allclose(model(x).asnumpy(), before)
    finally:
        table.set_data(ms.Tensor(original))


def test_residual_projections_get_the_scaled_init(tiny_config):
    seed_everything(0)
    big = GPT(GPTConfig(vocab_size=50, block_size=8, n_layer=8, n_head=2, n_embd=128))
    c_fc = big.blocks[0].mlp.c_fc.weight.asnumpy().std()
    c_proj = big.blocks[0].mlp.c_proj.weight.asnumpy().std()
    assert c_fc == pytest.approx(0.02, rel=0.05)
    assert c_proj == pytest.approx(0.02 / np.sqrt(2 * 8), rel=0.05)


def test_biases_start_at_zero(model):
    """As GPT-2's: MindSpore's default would be random, which slowed small models down (lesson 7)."""
    biases = {p.name: float(np.abs(p.asnumpy()).max()) for p in model.get_parameters()
              if p.name.endswith(".bias") and ".ln_" not in p.name}
    assert len(biases) == 4 * model.config.n_layer
    assert biases == dict.fromkeys(biases, 0.0)


def test_attention_maps_are_causal_distributions(model, tiny_config):
    maps = model.attention_maps(ids([[5, 6, 7, 8, 9]]))
    assert len(maps) == tiny_config.n_layer
    weights = maps[0].asnumpy()
    assert weights.shape == (1, tiny_config.n_head, 5, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.triu(weights[0, 0], k=1) == 0)
    np.testing.assert_allclose(weights[0, :, 0, 0], 1.0)  # the first token sees only itself


def test_loss_of_uniform_logits_is_log_vocab(tiny_config):
    logits = ms.Tensor(np.zeros((2, 4, 10), np.float32))
    targets = ids(np.ones((2, 4)))
    assert float(cross_entropy_loss(logits, targets).asnumpy()) == pytest.approx(np.log(10), rel=1e-6)


def test_ignored_targets_do_not_count(tiny_config):
    logits = np.zeros((1, 2, 3), np.float32)
    logits[0, 0, 1] = 5.0
    only_first = float(cross_entropy_loss(ms.Tensor(logits), ids([[1, -100]])).asnumpy())
    expected = -np.log(np.exp(5) / (np.exp(5) + 2))
    assert only_first == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("bad, message", [
    (dict(n_embd=30, n_head=4), "divisible by n_head"),
    (dict(vocab_size=0), "vocab_size must be a positive integer"),
    (dict(dropout=1.5), "dropout must be in"),
    (dict(positions="sinusoidal"), "positions must be one of 'learned', 'rotary'"),
])
def test_bad_config_values_are_refused_clearly(bad, message):
    with pytest.raises(ValueError, match=message):
        GPTConfig(**bad)


def test_rotary_tables_reference_values():
    cos, sin = rotary_tables(block_size=3, head_dim=4)
    # pairs (0, 2) and (1, 3) turn by position * 1 and position * 10000^(-1/2) = position / 100
    angles = np.array([[0, 0, 0, 0], [1, 0.01, 1, 0.01], [2, 0.02, 2, 0.02]])
    np.testing.assert_allclose(cos.asnumpy(), np.cos(angles), atol=1e-7)
    np.testing.assert_allclose(sin.asnumpy(), np.sin(angles), atol=1e-7)


def test_rotation_keeps_lengths_and_makes_scores_depend_on_distance_only():
    rng = np.random.default_rng(0)
    cos, sin = rotary_tables(block_size=16, head_dim=8)
    q, k = ms.Tensor(rng.normal(size=(1, 8)).astype(np.float32)), ms.Tensor(rng.normal(size=(1, 8)).astype(np.float32))

    def at(x, position):
        return rotate(x, cos[position:position + 1], sin[position:position + 1]).asnumpy()[0]

    np.testing.assert_allclose(np.linalg.norm(at(q, 5)), np.linalg.norm(q.asnumpy()), rtol=1e-5)
    score = at(q, 7) @ at(k, 4)  # query at 7, key 3 positions back
    assert score == pytest.approx(at(q, 12) @ at(k, 9), rel=1e-4)
    assert score != pytest.approx(at(q, 7) @ at(k, 5), rel=1e-2)  # another distance, another score


def test_a_rotary_model_has_no_position_table_and_stays_causal(tiny_config):
    from dataclasses import replace

    config = replace(tiny_config, positions="rotary")
    seed_everything(0)
    rotary = GPT(config)
    rotary.set_train(False)
    assert rotary.num_parameters() == GPT(tiny_config).num_parameters() - config.block_size * config.n_embd
    assert not any("wpe" in p.name for p in rotary.trainable_params())
    x = np.random.default_rng(2).integers(0, config.vocab_size, (1, config.block_size))
    y = x.copy()
    y[0, 9] = (x[0, 9] + 1) % config.vocab_size
    a, b = rotary(ids(x)).asnumpy(), rotary(ids(y)).asnumpy()
    np.testing.assert_allclose(a[0, :9], b[0, :9], atol=1e-6)


def test_document_mask_lets_each_packed_document_see_only_itself(tiny_config):
    from dataclasses import replace

    def rotary_model(document_mask):
        seed_everything(0)  # the same weights each time
        model = GPT(replace(tiny_config, positions="rotary", document_mask=document_mask))
        model.set_train(False)
        return model

    model = rotary_model(document_mask=True)
    bos = GPTConfig().bos_id
    first, second = [bos, 7, 8, 9], [bos, 10, 11, 12, 7, 8]
    mask = model.attention_mask(ids([first + second])).asnumpy()[0, 0]
    assert set(np.unique(mask)) == {0.0, -np.inf}
    allowed = mask == 0
    expected = np.zeros((10, 10), bool)
    expected[:4, :4] = np.tril(np.ones((4, 4), bool))
    expected[4:, 4:] = np.tril(np.ones((6, 6), bool))
    np.testing.assert_array_equal(allowed, expected)
    # Rotary positions are relative, so the second document gets exactly the logits it gets alone.
    packed = model(ids([first + second])).asnumpy()[0, len(first):]
    alone = model(ids([second])).asnumpy()[0]
    np.testing.assert_allclose(packed, alone, atol=1e-5)
    # Without the document mask, the first document changes what the second one computes.
    unmasked = rotary_model(document_mask=False)(ids([first + second])).asnumpy()[0, len(first):]
    assert np.abs(unmasked - alone).max() > 1e-4


def test_the_configs_bos_id_is_every_tokenizers():
    from minigpt.tokenizer import TOKENIZER_CLASSES, train_tokenizer

    for kind in TOKENIZER_CLASSES:
        assert train_tokenizer(kind, "abc abc", 270 if kind != "char" else None).bos_id == GPTConfig().bos_id

