"""Reusable exact pieces codec families are composed of (latent coding stages, padding).

Each stage owns one latent: how its symbols are formed, which integer tables code them, and what it
stores in a model file. Stages know the entropy layer, never the container or training.
"""

from neuralcodec.codecs.stages.factorized import FactorizedLatent
from neuralcodec.codecs.stages.gaussian_conditional import GaussianConditionalLatent
from neuralcodec.codecs.stages.padding import pad_amounts, pad_replicate

__all__ = ["FactorizedLatent", "GaussianConditionalLatent", "pad_amounts", "pad_replicate"]
