"""A bidirectional diffusion transformer with DiT-style adaLN-Zero conditioning on the noise level.

The conditioning scalar ``cond`` (the probability that a token of x_t still equals its x_0 token) enters
through sinusoidal features of ``1000·cond`` (the DiT timestep embedding, with ``cond`` in place of t/T)
and an MLP; every block, and the final norm, gets a shift, a scale and (blocks only) a gate per channel
from a zero-initialized linear map of that embedding, so at initialization every block is the identity
and the zero-initialized readout gives logits exactly 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rhm_memo.checks import check_int
from rhm_memo.models.base import Backbone, BackboneInputs

#: Number of sinusoidal features of the conditioning scalar (DiT's ``frequency_embedding_size``).
COND_FEATURES = 256
#: ``cond`` is multiplied by this before the sinusoidal features (DiT feeds integer steps 0..1000).
COND_SCALE = 1000.0
#: Longest period of the sinusoidal features.
MAX_PERIOD = 10_000.0


def sinusoidal_features(x: torch.Tensor, dim: int = COND_FEATURES, max_period: float = MAX_PERIOD) -> torch.Tensor:
    """``(B,)`` → ``(B, dim)`` float32: ``[cos(x·f_k), sin(x·f_k)]`` with ``f_k = max_period**(-k/(dim/2))``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=x.device) / half)
    args = x.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN modulation of ``(B, d, w)`` activations by per-row ``(B, w)`` shift and scale."""
    return x * (1 + scale[:, None, :]) + shift[:, None, :]


class CondEmbedding(nn.Module):
    """Embedding of the conditioning scalar: sinusoidal features of ``1000·cond`` → Linear → SiLU → Linear.

    Args:
        width: Output width.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(COND_FEATURES, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        """``(B,)`` → ``(B, width)``."""
        return self.mlp(sinusoidal_features(COND_SCALE * cond))


class Block(nn.Module):
    """Pre-norm transformer block with adaLN-Zero: gated attention and MLP residuals, modulated LayerNorms.

    Args:
        width: Channels.
        heads: Attention heads (``width % heads == 0``).
        mlp_ratio: Hidden width of the MLP over ``width``.
        dropout: Dropout on attention weights and on both residual branches (training only).
    """

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        hidden = round(width * mlp_ratio)
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, d, w)`` activations, ``c``: ``(B, w)`` conditioning embedding → ``(B, d, w)``."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(6, dim=-1)
        p = self.dropout if self.training else 0.0
        B, d, w = x.shape
        qkv = self.qkv(modulate(self.norm1(x), shift1, scale1)).view(B, d, 3, self.heads, w // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, d, w/heads)
        a = F.scaled_dot_product_attention(q, k, v, dropout_p=p).transpose(1, 2).reshape(B, d, w)
        x = x + gate1[:, None, :] * F.dropout(self.proj(a), p, self.training)
        h = self.mlp(modulate(self.norm2(x), shift2, scale2))
        return x + gate2[:, None, :] * F.dropout(h, p, self.training)


class DiffusionTransformer(Backbone):
    """Bidirectional transformer denoiser: ``(x_t, cond)`` → logits of x_0, DiT-style adaLN-Zero conditioning.

    Token embedding + learned absolute position embedding → ``depth`` blocks → adaLN final LayerNorm → linear
    readout. The adaLN maps and the readout are zero-initialized, so initial logits are exactly 0 and every
    block starts as the identity; the other linear layers are Xavier-uniform with zero biases, embeddings
    N(0, 0.02²).

    Args:
        inputs: ``input_size`` token ids to embed, ``vocab_size`` classes predicted per position and ``seq_len``
            positions (supplied by ``DiffusionModule``).
        width: Model width.
        depth: Number of transformer blocks.
        heads: Attention heads; must divide ``width``.
        mlp_ratio: MLP hidden width over ``width``.
        dropout: Dropout probability on attention weights and residual branches (training only).
    """

    def __init__(
        self,
        inputs: BackboneInputs,
        width: int = 256,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(inputs)
        for name, value in [("width", width), ("depth", depth), ("heads", heads)]:
            check_int(name, value, 1)
        if width % heads != 0:
            raise ValueError(f"width must be divisible by heads, got width={width}, heads={heads}")
        real = isinstance(mlp_ratio, (int, float)) and not isinstance(mlp_ratio, bool)
        if not real or not (0 < mlp_ratio < math.inf and round(width * mlp_ratio) >= 1):
            raise ValueError(f"mlp_ratio must be a finite number > 0 (and width * mlp_ratio >= 1), got {mlp_ratio!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.width, self.depth, self.heads, self.mlp_ratio = width, depth, heads, mlp_ratio

        self.tok_emb = nn.Embedding(self.input_size, width)
        self.pos_emb = nn.Parameter(torch.zeros(self.seq_len, width))
        self.cond_emb = CondEmbedding(width)
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm_out = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.readout = nn.Linear(width, self.out_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """DiT initialization: Xavier-uniform linears, zero biases, N(0, 0.02²) embeddings, zero adaLN and readout."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.tok_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb, std=0.02)
        for linear in self.zero_init_layers():
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)

    def zero_init_layers(self) -> list[nn.Linear]:
        """The zero-initialized linear maps: every block's and the final adaLN map, and the readout."""
        return [*(block.ada[-1] for block in self.blocks), self.ada_out[-1], self.readout]

    def forward(self, x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``x_t``: ``(B, d)`` token ids, ``cond``: ``(B,)`` → logits of x_0 ``(B, d, out_size)``."""
        c = self.cond_emb(cond)
        x = self.tok_emb(x_t) + self.pos_emb
        for block in self.blocks:
            x = block(x, c)
        shift, scale = self.ada_out(c).chunk(2, dim=-1)
        return self.readout(modulate(self.norm_out(x), shift, scale))

    def flops(self, batch: int) -> int:
        """Forward FLOPs for ``batch`` strings (multiply-add = 2 FLOPs; see docs/models.md for the formula)."""
        w, d = self.width, self.seq_len
        hidden = round(w * self.mlp_ratio)
        per_token = self.depth * (2 * (4 * w * w + 2 * w * hidden) + 4 * d * w) + 2 * w * self.out_size
        per_string = 2 * (COND_FEATURES * w + w * w + self.depth * 6 * w * w + 2 * w * w)
        return batch * (d * per_token + per_string)
