#!/usr/bin/env python3
"""The proxy of `remix bench train` in PyTorch, to run side by side with it on one machine.

Same model (LLaMA-style: RMSNorm, causal attention with rotary embeddings through SDPA, SwiGLU, untied
head, no biases), same sizes, random tokens, AdamW (0.9, 0.95, weight decay 0.1), gradient clipping 1.0,
float32, eager mode, the same thread count. Prints tokens per second over the steps after the first.

    python3 bench/train_pytorch.py --threads 2 --steps 20          # PyTorch
    remix bench train --steps 20                                   # remix, same defaults

Needs `pip install torch`: PyPI's wheel (about 7 GB installed with the CUDA libraries it pulls in) runs on
the CPU, e.g. `python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch`.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, heads, ffn):
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.RMSNorm(d, eps=1e-5)
        self.qkv = nn.ModuleList(nn.Linear(d, d, bias=False) for _ in range(3))
        self.out = nn.Linear(d, d, bias=False)
        self.ffn_norm = nn.RMSNorm(d, eps=1e-5)
        self.gate = nn.Linear(d, ffn, bias=False)
        self.up = nn.Linear(d, ffn, bias=False)
        self.down = nn.Linear(ffn, d, bias=False)

    def forward(self, x, cos, sin):
        b, t, d = x.shape
        h = self.attention_norm(x)
        q, k, v = (p(h).view(b, t, self.heads, d // self.heads).transpose(1, 2) for p in self.qkv)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(a.transpose(1, 2).reshape(b, t, d))
        h = self.ffn_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


def rotate(x, cos, sin):
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class Proxy(nn.Module):
    def __init__(self, vocab, layers, d, heads, ffn, context, theta=10000.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, heads, ffn) for _ in range(layers))
        self.norm = nn.RMSNorm(d, eps=1e-5)
        self.head = nn.Linear(d, vocab, bias=False)
        half = d // heads // 2
        freqs = theta ** (-torch.arange(half, dtype=torch.float32) / half)
        angles = torch.outer(torch.arange(context, dtype=torch.float32), freqs)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, tokens):
        x = self.embedding(tokens)
        t = tokens.shape[1]
        for block in self.blocks:
            x = block(x, self.cos[:t], self.sin[:t])
        return self.head(self.norm(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--ffn-hidden", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (bench/gpu_sweep.sh)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = Proxy(args.vocab_size, args.layers, args.d_model, args.heads, args.ffn_hidden, args.context)
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    steps = max(args.steps, 2)
    data = torch.randint(0, args.vocab_size - 1, (steps, args.batch_size, args.context + 1), device=device)
    seconds = []
    for step in range(steps):
        started = time.perf_counter()
        rows = data[step]
        logits = model(rows[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, args.vocab_size), rows[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    tokens = (steps - 1) * args.batch_size * args.context
    print(f"{tokens / sum(seconds[1:]):.0f}")


if __name__ == "__main__":
    main()
