"""A PyTorch port of lssg's CMX (crates/backbones/src/cmx/, docs/method.md §7.1), for every preset.

Written for this repository as the PyTorch side of the throughput comparison: the
modules mirror lssg's Rust code layer for layer, and every parameter and buffer has the name of
the matching tch variable (`vs.save()` names, `.`-separated), so that `load_lssg_safetensors`
fills the model from an lssg checkpoint without any renaming. PyTorch's batch norms also hold
`num_batches_tracked`, which tch does not have; it is the only key lssg does not write.

`forward(inputs, availability)` takes `inputs[m]: [B, C_m, H, W]` and `availability: [B, M]` (0/1)
and returns `(logits [B, classes, H, W], latent [B, w4, H/32, W/32])`; the latent is the output of
`backbone.ffm[3]`, lssg's hook point. In eval mode it computes what lssg's
`forward_t(train=false)` computes (checked by crates/backbones/tests/pytorch_port.rs).

No LoRA adapters (`lora_a`/`lora_b`): the port is the plain network.
"""

import json
import struct
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# (width divisor, decoder embedding, heads) per preset: crates/backbones/src/cmx/mod.rs.
PRESETS = {"paper": (1, 256, 8), "small": (4, 64, 8), "tiny": (8, 32, 4)}
PAPER_WIDTHS = (64, 64, 128, 320, 512)


@dataclass
class CmxConfig:
    """Sizes of a CMX network (lssg's `CmxConfig`)."""

    widths: tuple = PAPER_WIDTHS
    heads: int = 8
    frm_reduction: int = 1
    ffm_reduction: int = 1
    decoder_embed: int = 256
    dropout: float = 0.1

    @staticmethod
    def preset(name):
        div, embed, heads = PRESETS[name]
        return CmxConfig(widths=tuple(w // div for w in PAPER_WIDTHS), heads=heads, decoder_embed=embed)


def to_tokens(x):
    """[B, C, H, W] -> [B, H*W, C]."""
    return x.flatten(2).transpose(1, 2)


def from_tokens(x, h, w):
    """[B, H*W, C] -> [B, C, H, W]."""
    b, _, c = x.shape
    return x.transpose(1, 2).reshape(b, c, h, w)


def resize_bilinear(x, h, w):
    if x.shape[2] == h and x.shape[3] == w:
        return x
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


class ConvBlock(nn.Module):
    """Conv 3x3 (stride) -> BN -> ReLU -> Conv 3x3 -> BN -> ReLU; `block.{0,1,3,4}` (stream.rs)."""

    def __init__(self, in_dim, out_dim, stride=2):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(in_dim, out_dim, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_dim),
            nn.ReLU(),
            nn.Conv2d(out_dim, out_dim, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_dim),
            nn.ReLU(),
        )

    def forward(self, x):
        return self.block(x)


class _Mlp(nn.Module):
    """Holds `mlp` so that the keys read `channel_weights.mlp.0.weight` etc."""

    def __init__(self, *layers):
        super().__init__()
        self.mlp = nn.Sequential(*layers)


class Frm(nn.Module):
    """Feature rectification (frm.rs)."""

    def __init__(self, dim, reduction=1):
        super().__init__()
        self.dim = dim
        hc, hs = dim * 4 // reduction, dim // reduction
        self.channel_weights = _Mlp(nn.Linear(dim * 4, hc), nn.ReLU(), nn.Linear(hc, dim * 2))
        self.spatial_weights = _Mlp(nn.Conv2d(dim * 2, hs, 1), nn.ReLU(), nn.Conv2d(hs, 2, 1))
        self.lambda_c = self.lambda_s = 0.5

    def forward(self, x1, x2):
        b = x1.shape[0]
        x = torch.cat([x1, x2], 1)  # [B, 2C, H, W]
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], 1)  # [B, 4C]
        cw = self.channel_weights.mlp(pooled).sigmoid().view(b, 2, self.dim, 1, 1)
        sw = self.spatial_weights.mlp(x).sigmoid()  # [B, 2, H, W]
        out1 = x1 + (cw[:, 1] * self.lambda_c + sw[:, 1:2] * self.lambda_s) * x2
        out2 = x2 + (cw[:, 0] * self.lambda_c + sw[:, 0:1] * self.lambda_s) * x1
        return out1, out2


class CrossAttention(nn.Module):
    """Efficient cross attention (ffm.rs `CrossAttention`)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.kv1 = nn.Linear(dim, dim * 2, bias=False)
        self.kv2 = nn.Linear(dim, dim * 2, bias=False)

    def context(self, kv, u):
        b, n, c = u.shape
        kv = kv(u).reshape(b, n, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)  # [2, B, h, N, dh]
        k, v = kv[0], kv[1]
        return (k.transpose(-2, -1) @ v * self.scale).softmax(dim=-2)  # [B, h, dh, dh]

    def queries(self, u):
        b, n, c = u.shape
        return u.reshape(b, n, self.heads, c // self.heads).permute(0, 2, 1, 3)  # [B, h, N, dh]

    def forward(self, u1, u2):
        b, n, c = u1.shape
        ctx1, ctx2 = self.context(self.kv1, u1), self.context(self.kv2, u2)
        out1 = (self.queries(u1) @ ctx2).permute(0, 2, 1, 3).reshape(b, n, c)
        out2 = (self.queries(u2) @ ctx1).permute(0, 2, 1, 3).reshape(b, n, c)
        return out1, out2


class CrossPath(nn.Module):
    """The token half of the fusion module: `cross.*` (ffm.rs)."""

    def __init__(self, dim, reduction, heads):
        super().__init__()
        self.half = half = dim // reduction
        self.channel_proj1 = nn.Linear(dim, half * 2)
        self.channel_proj2 = nn.Linear(dim, half * 2)
        self.cross_attn = CrossAttention(half, heads)
        self.end_proj1 = nn.Linear(half * 2, dim)
        self.end_proj2 = nn.Linear(half * 2, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, t1, t2):
        p1, p2 = self.channel_proj1(t1).relu(), self.channel_proj2(t2).relu()  # [B, N, 2C/r]
        y1, u1 = p1.split(self.half, dim=2)
        y2, u2 = p2.split(self.half, dim=2)
        v1, v2 = self.cross_attn(u1, u2)
        o1 = self.norm1(t1 + self.end_proj1(torch.cat([y1, v1], 2)))
        o2 = self.norm2(t2 + self.end_proj2(torch.cat([y2, v2], 2)))
        return o1, o2


class ChannelEmbed(nn.Module):
    """2C -> C channel embedding: `channel_emb.{residual, channel_embed.{0,1,3,4}, norm}` (ffm.rs)."""

    def __init__(self, dim, reduction):
        super().__init__()
        half = dim // reduction
        self.residual = nn.Conv2d(dim * 2, dim, 1, bias=False)
        self.channel_embed = nn.Sequential(
            nn.Conv2d(dim * 2, half, 1),
            nn.Conv2d(half, half, 3, padding=1, groups=half),
            nn.ReLU(),
            nn.Conv2d(half, dim, 1),
            nn.BatchNorm2d(dim),
        )
        self.norm = nn.BatchNorm2d(dim)

    def forward(self, x):
        return self.norm(self.residual(x) + self.channel_embed(x))


class Ffm(nn.Module):
    """Feature fusion of one stage (ffm.rs `Ffm`)."""

    def __init__(self, dim, reduction, heads):
        super().__init__()
        self.cross = CrossPath(dim, reduction, heads)
        self.channel_emb = ChannelEmbed(dim, reduction)

    def forward(self, x1, x2):
        h, w = x1.shape[2:]
        o1, o2 = self.cross(to_tokens(x1), to_tokens(x2))
        return self.channel_emb(from_tokens(torch.cat([o1, o2], 2), h, w))


class DualBackbone(nn.Module):
    """Two streams with rectification and fusion after every stage (backbone.rs)."""

    def __init__(self, cfg, in_dim):
        super().__init__()
        stem, stages = cfg.widths[0], cfg.widths[1:]
        self.rgb_stem = ConvBlock(in_dim, stem)
        self.mod_stem = ConvBlock(in_dim, stem)
        prev = stem
        for i, c in enumerate(stages):
            setattr(self, f"rgb_s{i + 1}", ConvBlock(prev, c))
            setattr(self, f"mod_s{i + 1}", ConvBlock(prev, c))
            prev = c
        self.frm = nn.ModuleList(Frm(c, cfg.frm_reduction) for c in stages)
        self.ffm = nn.ModuleList(Ffm(c, cfg.ffm_reduction, cfg.heads) for c in stages)

    def forward(self, x1, x2):
        r, m = self.rgb_stem(x1), self.mod_stem(x2)
        levels = []
        for i in range(len(self.ffm)):
            r_i, m_i = getattr(self, f"rgb_s{i + 1}")(r), getattr(self, f"mod_s{i + 1}")(m)
            r, m = self.frm[i](r_i, m_i)
            levels.append(self.ffm[i](r, m))
        return levels


class _Proj(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.proj = nn.Linear(i, o)


class DecoderHead(nn.Module):
    """SegFormer-style all-MLP decoder (decoder.rs)."""

    def __init__(self, in_channels, embed, classes, dropout):
        super().__init__()
        for i, c in enumerate(in_channels):
            setattr(self, f"linear_c{i + 1}", _Proj(c, embed))
        self.levels = len(in_channels)
        self.linear_fuse = nn.Sequential(nn.Conv2d(embed * self.levels, embed, 1), nn.BatchNorm2d(embed), nn.ReLU())
        self.dropout = nn.Dropout2d(dropout)
        self.linear_pred = nn.Conv2d(embed, classes, 1)

    def forward(self, levels):
        h, w = levels[0].shape[2:]
        parts = []
        for i in reversed(range(self.levels)):  # deepest first, as lssg and the reference
            x = levels[i]
            e = from_tokens(getattr(self, f"linear_c{i + 1}").proj(to_tokens(x)), x.shape[2], x.shape[3])
            parts.append(resize_bilinear(e, h, w))
        return self.linear_pred(self.dropout(self.linear_fuse(torch.cat(parts, 1))))


class Cmx(nn.Module):
    """lssg's CMX (cmx/mod.rs): `modal_proj`, `backbone`, `decode_head`."""

    def __init__(self, cfg, channels, classes):
        super().__init__()
        if len(channels) < 2:
            raise ValueError(f"CMX needs at least 2 modalities, got channels {channels}")
        self.channels = list(channels)
        c0, rest = channels[0], sum(channels[1:])
        self.modal_proj = nn.Conv2d(rest, c0, 1, bias=False)
        self.backbone = DualBackbone(cfg, c0)
        self.decode_head = DecoderHead(cfg.widths[1:], cfg.decoder_embed, classes, cfg.dropout)

    def forward(self, inputs, availability):
        """Returns `(logits [B, classes, H, W], latent)`; missing modalities are zeroed per sample."""
        h, w = inputs[0].shape[2:]
        gated = [x * availability[:, m].to(x.dtype).view(-1, 1, 1, 1) for m, x in enumerate(inputs)]
        x2 = self.modal_proj(torch.cat(gated[1:], 1))
        levels = self.backbone(gated[0], x2)
        logits = resize_bilinear(self.decode_head(levels), h, w)
        return logits, levels[-1]


def build(preset, channels, classes):
    """The CMX of a preset (`paper`, `small`, `tiny`) for modalities of `channels` channels."""
    return Cmx(CmxConfig.preset(preset), channels, classes)


_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "I8": torch.int8, "BOOL": torch.bool}


def read_safetensors(path):
    """Every tensor of a safetensors file, by name (8-byte LE header length, JSON header, data)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        raw = bytearray(body[start:end])  # a writable copy
        t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"])
    return out


def load_lssg_safetensors(model, path):
    """Fills every parameter and buffer of `model` from an lssg checkpoint; raises ValueError
    listing every missing, unexpected and misshaped key (nothing is loaded then)."""
    file = read_safetensors(path)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(state) - set(file))
    unexpected = sorted(set(file) - set(state))
    misshaped = sorted(f"{k}: model {list(state[k].shape)}, file {list(file[k].shape)}"
                       for k in set(state) & set(file) if state[k].shape != file[k].shape)
    if missing or unexpected or misshaped:
        raise ValueError(f"{path}: checkpoint does not match the model: missing {missing}, "
                         f"unexpected {unexpected}, misshaped {misshaped}")
    with torch.no_grad():
        for k, v in state.items():
            v.copy_(file[k])
    return model
