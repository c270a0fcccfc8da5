"""The inference transforms (no CompressAI) compute exactly what the training network computes."""

from __future__ import annotations

import pytest
import torch

from neuralcodec.codecs.hyperprior.codec import float_state_dict
from neuralcodec.codecs.hyperprior.net import MeanScaleHyperpriorNet
from neuralcodec.codecs.hyperprior.transforms import HyperpriorTransforms
from neuralcodec.codecs.model_file import load_model_file
from neuralcodec.codecs.registry import model_path, shipped_qualities
from neuralcodec.image_io import read_image


@pytest.mark.parametrize("quality", shipped_qualities("hyperprior")[::3])
def test_runtime_and_training_transforms_agree_on_shipped_weights(quality, sample_path):
    blob = load_model_file(model_path("hyperprior", quality))
    training = MeanScaleHyperpriorNet(**blob["arch"]).eval()
    runtime = HyperpriorTransforms(**blob["arch"]).eval()
    state = float_state_dict(blob, training)
    training.load_state_dict(state, strict=False)
    assert not runtime.load_state_dict(state, strict=False).missing_keys
    x = read_image(sample_path)[0][:, :128, :192].float().unsqueeze(0) / 255
    with torch.no_grad():
        y_train, y_run = training.g_a(x), runtime.g_a(x)
        assert torch.equal(y_train, y_run)
        assert torch.equal(training.g_s(torch.round(y_train)), runtime.g_s(torch.round(y_run)))
        assert torch.equal(training.h_a(y_train), runtime.h_a(y_run))
