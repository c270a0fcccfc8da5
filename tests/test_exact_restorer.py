"""The integer twin of the vq restorer and the member draw it drives: close to the float transformer, and the same
draws whatever the thread count or the last bits of a matrix product."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import neuralcodec.codecs.vq.exact_restorer as exact
from neuralcodec.codecs.registry import load_codec
from neuralcodec.codecs.vq.grid import vectors_on_grid
from neuralcodec.codecs.vq.members import draw_members
from neuralcodec.image_io import read_image


def test_exp2_table_is_the_rounded_power_of_two():
    table = exact.exp2_table()
    b = torch.arange(len(table), dtype=torch.float64)
    reference = 2.0**exact.EXP_WEIGHT_BITS * torch.exp2(-b / len(table))
    assert int(table[0]) == 1 << exact.EXP_WEIGHT_BITS
    assert float((table.double() - reference).abs().max()) <= 0.5 + 1e-6  # rounded to the nearest integer
    assert bool((table[1:] < table[:-1]).all())


def test_softmax_weights_follow_the_scores_and_the_mask():
    scores = torch.tensor([[0.0, -1024.0, -2048.0, 5.0], [3.0, 3.0, -9e9, 0.0]], dtype=torch.float64)
    keep = torch.tensor([[True, True, True, False], [True, False, True, True]])
    weights = exact.SoftmaxWeights(1.0 / exact.LOG2_E / 1024.0)(scores, keep)  # 1024 score units: one octave
    assert weights[0].tolist() == [1 << 20, 1 << 19, 1 << 18, 0]
    assert weights[1, 0] == 1 << 20 and weights[1, 1] == 0 and weights[1, 2] == 0


@pytest.fixture(scope="module")
def restorer_inputs(sample_path):
    codec = load_codec("vq", 1)
    image, _ = read_image(sample_path)
    groups = codec.indices(image[:, :320, :384])
    vectors = vectors_on_grid(torch.from_numpy(groups.astype(np.int64)), codec.codebook)[None]
    h, w = groups.shape
    lost = ((torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2 == 0)[None]
    return codec, groups, vectors, lost


def test_integer_restorer_is_close_to_the_float_transformer(restorer_inputs):
    codec, _, vectors, lost = restorer_inputs
    integer = codec.exact_restorer(vectors, lost) / float(1 << exact.LOGIT_GRID[1])
    with torch.no_grad():
        floating = codec.net.restorer(vectors, lost).double()
    assert float((integer - floating).abs().max()) < 0.05  # logits span about ±8
    assert float((integer.argmax(-1) == floating.argmax(-1)).double().mean()) > 0.97


def test_member_draw_ignores_threads_and_last_bit_noise(restorer_inputs, request):
    codec, groups, _, _ = restorer_inputs
    args = (codec.exact_restorer, groups, codec.codebook, codec.net.quantizer.codebook, codec.assign)
    torch.set_num_threads(1)
    one = draw_members(*args)
    torch.set_num_threads(2)
    assert torch.equal(draw_members(*args), one)
    request.getfixturevalue("noisy_mm")  # float64 products off by ±1 ULP from here on
    assert torch.equal(draw_members(*args), one)
