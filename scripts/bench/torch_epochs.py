"""Timed PyTorch training epochs, shared by the reference scripts (train_reference.py,
transfer_reference.py): batches of 32 in order (or shuffled), Adam's step from the caller,
cross-entropy on float32 logits, the forward pass optionally under bf16 autocast; one warm-up
pass over the first 256 inputs before the clock starts."""
import time

import torch
from torch import nn


def images_per_second(model, optimiser, inputs, labels, epochs, bf16=False, shuffle=False):
    def batches(n):
        order = torch.randperm(n) if shuffle else None
        for i in range(0, n, 32):
            if order is None:
                yield inputs[i:i + 32], labels[i:i + 32]
            else:
                index = order[i:i + 32]
                yield inputs[index], labels[index]

    def epoch(n):
        for x, y in batches(n):
            optimiser.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = model(x)
            loss = nn.functional.cross_entropy(logits.float(), y)
            loss.backward()
            optimiser.step()

    epoch(min(256, len(inputs)))
    start = time.perf_counter()
    for _ in range(epochs):
        epoch(len(inputs))
    return len(inputs) * epochs / (time.perf_counter() - start)
