"""Network of the ``vq`` family: a vector-quantized autoencoder with a downsampling factor of 16.

``g_a`` and ``g_s`` are the hyperprior's analysis and synthesis transforms (same layers and state-dict keys, so
they warm-start from a shipped hyperprior file). Between them, on the 1/16 grid:

- ``to_code``: y (M channels) → a ``code_dim`` vector per position;
- :class:`VectorQuantizer`: the nearest of ``codebook_size`` code vectors (EMA updates, dead-code restarts);
- ``from_code``: code vector → M channels for ``g_s`` (a few residual blocks: the decoder must invent
  what ten bits a 16×16 block cannot carry).

The same modules run in training (CompressAI's trainable GDN) and in the runtime codec (our inference GDN).
Losses live in the training module (:mod:`neuralcodec.training.vq_module`); this file has no discriminator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralcodec.codecs.stages.layers import GDN, conv, deconv
from neuralcodec.codecs.vq.grid import nearest_code, vectors_on_grid
from neuralcodec.codecs.vq.kmeans import kmeans
from neuralcodec.codecs.vq.restore import IndexRestorer

DOWNSAMPLING = 16


class ResidualBlock(nn.Module):
    """x + conv3×3(LeakyReLU(conv3×3(x)))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class VectorQuantizer(nn.Module):
    """Nearest-code quantization with an EMA-updated codebook (van den Oord et al. 2017, appendix; Razavi 2019).

    Codes whose running usage falls below ``dead_fraction`` of the uniform share are restarted on random
    encoder outputs of the current batch, which keeps most of a large codebook in use.
    """

    def __init__(self, codebook_size: int, code_dim: int, decay: float = 0.99, dead_fraction: float = 0.03) -> None:
        super().__init__()
        self.codebook_size, self.code_dim = codebook_size, code_dim
        self.decay, self.dead_fraction = decay, dead_fraction
        self.register_buffer("codebook", torch.randn(codebook_size, code_dim) * 0.1)
        self.register_buffer("ema_count", torch.ones(codebook_size))
        self.register_buffer("ema_sum", self.codebook.clone())
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    def nearest(self, vectors: Tensor) -> Tensor:
        """Index (int64) of the nearest code of each row of ``vectors`` (n, code_dim)."""
        return nearest_code(vectors, self.codebook)

    @torch.no_grad()
    def _update(self, flat: Tensor, indices: Tensor) -> None:
        if not bool(self.initialised):  # start from data: random encoder outputs
            pick = torch.randint(0, flat.shape[0], (self.codebook_size,), device=flat.device)
            self.codebook.copy_(flat[pick])
            self.ema_sum.copy_(self.codebook)
            self.ema_count.fill_(1.0)
            self.initialised.fill_(True)
            return
        onehot_count = torch.bincount(indices, minlength=self.codebook_size).float()
        sums = torch.zeros_like(self.ema_sum).index_add_(0, indices, flat)
        self.ema_count.mul_(self.decay).add_(onehot_count, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.ema_count.sum()
        count = (self.ema_count + 1e-5) / (n + self.codebook_size * 1e-5) * n  # Laplace smoothing
        self.codebook.copy_(self.ema_sum / count[:, None])
        dead = self.ema_count < self.dead_fraction * n / self.codebook_size
        if dead.any():
            pick = torch.randint(0, flat.shape[0], (int(dead.sum()),), device=flat.device)
            share = n / self.codebook_size  # a restarted code starts with an average count, its sum to match
            self.codebook[dead] = flat[pick]
            self.ema_sum[dead] = flat[pick] * share
            self.ema_count[dead] = share

    def forward(self, e: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Quantized vectors (straight-through), indices (B, H, W) and the commitment loss of ``e`` (B, D, H, W)."""
        b, d, h, w = e.shape
        flat = e.permute(0, 2, 3, 1).reshape(-1, d)
        indices = self.nearest(flat.detach())
        if self.training:
            self._update(flat.detach(), indices)
        q = vectors_on_grid(indices.view(b, h, w), self.codebook)
        commitment = F.mse_loss(e, q.detach())
        return e + (q - e).detach(), indices.view(b, h, w), commitment


class VQNet(nn.Module):
    """``g_a`` → ``to_code`` → :class:`VectorQuantizer` → ``from_code`` → ``g_s``; ``gdn`` is the GDN class."""

    downsampling = DOWNSAMPLING

    def __init__(self, N: int = 128, M: int = 192, code_dim: int = 32, codebook_size: int = 1024,
                 decoder_blocks: int = 2, restorer: dict[str, int] | None = None, gdn: type[nn.Module] = GDN) -> None:
        super().__init__()
        self.N, self.M, self.code_dim, self.codebook_size = N, M, code_dim, codebook_size
        self.decoder_blocks, self.restorer_arch = decoder_blocks, dict(restorer or {})
        self.g_a = nn.Sequential(conv(3, N), gdn(N), conv(N, N), gdn(N), conv(N, N), gdn(N), conv(N, M))
        self.to_code = nn.Sequential(ResidualBlock(M), nn.Conv2d(M, code_dim, 1))
        self.quantizer = VectorQuantizer(codebook_size, code_dim)
        self.from_code = nn.Sequential(nn.Conv2d(code_dim, M, 1), *[ResidualBlock(M) for _ in range(decoder_blocks)])
        self.g_s = nn.Sequential(
            deconv(M, N), gdn(N, inverse=True), deconv(N, N), gdn(N, inverse=True),
            deconv(N, N), gdn(N, inverse=True), deconv(N, 3),
        )
        self.restorer = IndexRestorer(code_dim, codebook_size, **(restorer or {}))
        # Sub-codebooks (k-means groups of the codebook, largest first; row 0 of ``level_assign`` is the identity),
        # the one this network decodes, and how often the training images used each of its entries (the prior).
        self.level_sizes: list[int] = [codebook_size]
        self.level_assign = torch.arange(codebook_size)[None]
        self.level_centroids: list[Tensor] = []
        self.level = 0
        self.prior_counts = torch.zeros(codebook_size, dtype=torch.float64)
        # a lower point decodes each entry as a member of its group drawn by the restorer (vq_members), or
        # from the group's centroid
        self.draw_members = False

    # --- sub-codebooks ----------------------------------------------------------------------------------
    def set_levels(self, sizes: list[int], seed: int) -> None:
        """Cluster the (trained, frozen) codebook into sub-codebooks of ``sizes`` with seeded k-means, each
        group weighted by how often its codes are used."""
        codebook = self.quantizer.codebook.double().numpy()
        usage = self.quantizer.ema_count.double().numpy()
        if sizes[0] != self.codebook_size:
            raise ValueError(f"the first level must be the whole codebook ({self.codebook_size})")
        assign, centroids = [np.arange(self.codebook_size)], [codebook]
        for k in sizes[1:]:
            a, c = kmeans(codebook, k, seed, weights=usage)
            assign.append(a)
            centroids.append(c)
        self.level_sizes = [int(k) for k in sizes]
        self.level_assign = torch.from_numpy(np.stack(assign))
        self.level_centroids = [torch.from_numpy(c).float() for c in centroids[1:]]

    def set_level(self, level: int) -> None:
        """Decode (and count the prior of) sub-codebook ``level`` from now on."""
        if not 0 <= level < len(self.level_sizes):
            raise ValueError(f"level {level} does not exist (levels: {self.level_sizes})")
        if level != self.level:
            self.level = level
            self.prior_counts = torch.zeros(self.level_sizes[level], dtype=torch.float64)

    def level_codebook(self, level: int | None = None) -> Tensor:
        """Vectors of a sub-codebook (level 0: the codebook itself)."""
        level = self.level if level is None else level
        return self.quantizer.codebook if level == 0 else self.level_centroids[level - 1]

    def get_extra_state(self) -> dict[str, Any]:
        return {"level_sizes": list(self.level_sizes), "level_assign": self.level_assign,
                "level_centroids": list(self.level_centroids), "level": self.level,
                "prior_counts": self.prior_counts, "draw_members": self.draw_members}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.level_sizes = [int(k) for k in state["level_sizes"]]
        self.level_assign = state["level_assign"]
        self.level_centroids = list(state["level_centroids"])
        self.level = int(state["level"])
        self.prior_counts = state["prior_counts"]
        self.draw_members = bool(state.get("draw_members", False))  # older checkpoints lack it

    def arch(self) -> dict[str, int]:
        """Constructor arguments (what a model file stores to rebuild the network)."""
        return {"N": self.N, "M": self.M, "code_dim": self.code_dim, "codebook_size": self.codebook_size,
                "decoder_blocks": self.decoder_blocks, "restorer": dict(self.restorer_arch)}

    def encode_vectors(self, x: Tensor) -> Tensor:
        """Unquantized code vectors (B, code_dim, H/16, W/16) of images in [0, 1]."""
        return self.to_code(self.g_a(x))

    def decode_vectors(self, q: Tensor) -> Tensor:
        """Images (unclamped) from code vectors."""
        return self.g_s(self.from_code(q))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Training pass through the whole codebook: reconstruction, indices and commitment loss."""
        q, indices, commitment = self.quantizer(self.encode_vectors(x))
        return {"x_hat": self.decode_vectors(q), "indices": indices, "commitment": commitment}
