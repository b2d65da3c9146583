"""The same GPT and training step as minigpt, in PyTorch eager: the yardstick for
`train_speed.py --compare-torch`, and a fast stand-in for `chat_design.py`. Same
architecture (pre-LayerNorm blocks, one QKV projection, biases or not, exact GELU, tied
output layer, GPT-2 initialisation, learned or rotary positions, document mask), same AdamW
groups, schedule (`minigpt.train.lr_at`) and clipping, fed the same batches.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F


def rotate(x, cos, sin):
    """minigpt.model.rotate: turn feature pairs (i, i + d/2) by their position's angle."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-second, first), dim=-1) * sin


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head = cfg.n_head
        self.rotary = cfg.positions == "rotary"
        if self.rotary:
            from minigpt.model import rotary_tables

            cos, sin = rotary_tables(cfg.block_size, cfg.n_embd // cfg.n_head)
            self.register_buffer("cos", torch.from_numpy(cos.asnumpy()))
            self.register_buffer("sin", torch.from_numpy(sin.asnumpy()))
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.attn_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.mlp_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = cfg.dropout

    def attention(self, x, allowed):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        if self.rotary:
            q, k = rotate(q, self.cos[:T], self.sin[:T]), rotate(k, self.cos[:T], self.sin[:T])
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, is_causal=allowed is None,
                                           dropout_p=self.dropout if self.training else 0)
        return self.attn_proj(y.transpose(1, 2).reshape(B, T, C))

    def forward(self, x, allowed=None):
        p = self.dropout if self.training else 0.0
        x = x + F.dropout(self.attention(self.ln_1(x), allowed), p)
        return x + F.dropout(self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)))), p)


class TorchGPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd) if cfg.positions == "learned" else None
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.dropout = cfg.dropout
        self.document_mask, self.bos_id = cfg.document_mask, cfg.bos_id
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * cfg.n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def logits(self, idx):
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(idx.shape[1]))
        x = F.dropout(x, self.dropout if self.training else 0.0)
        allowed = None  # causal
        if self.document_mask:  # minigpt.model.GPT.attention_mask
            document = (idx == self.bos_id).cumsum(dim=1)
            causal = torch.ones(idx.shape[1], idx.shape[1], dtype=torch.bool).tril()
            allowed = (causal & (document[:, :, None] == document[:, None, :]))[:, None]
        for block in self.blocks:
            x = block(x, allowed)
        return self.ln_f(x) @ self.wte.weight.T  # tied output layer

    def forward(self, idx, targets):
        logits = self.logits(idx)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-100)


def make_training(model, cfg):
    """(train_step(x, y, lr) -> loss, eval_loss(x, y) -> loss) for TrainConfig `cfg`."""
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=1e-8)

    def train_step(x, y, lr):
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        loss = model(torch.from_numpy(x).long(), torch.from_numpy(y).long())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        return loss.item()

    @torch.no_grad()
    def eval_loss(x, y):
        model.eval()
        return model(torch.from_numpy(x).long(), torch.from_numpy(y).long()).item()

    return train_step, eval_loss
