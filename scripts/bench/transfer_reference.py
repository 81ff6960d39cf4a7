"""Reference for the transfer recipe's two stages (issue 32, item 3): PyTorch doing what
`covergenre-train --variants effnet-lite0` does, on the same machine and threads.

1. The frozen pass: ImageNet EfficientNet-Lite0 (the weights scripts/setup.sh unpacks into
   .deps/weights) up to block 12, in inference mode, over covers at 224x224, batch 64,
   channels-last float32. Reported in images per second.
2. Fine-tuning on the cached maps: blocks 12-15, the 1x1 head convolution and a new 12-genre
   classifier, trained on the 192x7x7 maps that stage 1 made, batch 32, Adam, dropout 0.1 on
   the maps, BatchNorm on its running statistics (scale and shift train), as
   src/train/transfer.rs does; float32, then bf16 autocast. Reported in maps per second.

Covers are decoded and resized once up front (PIL, bilinear), as the trainer's decode cache does.
Prints one JSON line per stage.

Usage: python transfer_reference.py COVERS_DIR [--images N] [--epochs E] [--weights PTH]
"""
import argparse
import copy
import json
import pathlib
import sys
import time

import numpy as np
import torch
from PIL import Image
from torch import nn

from torch_epochs import images_per_second

# EfficientNet-Lite0: (kernel, stride, expansion, output channels, repeats) per stage.
STAGES = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
          (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]
FINETUNE_FROM_BLOCK = 12
GENRES = 12


class Block(nn.Module):
    """MBConv without squeeze-excitation, ReLU6 (EfficientNet-Lite), names as in the weights."""

    def __init__(self, inputs, kernel, stride, expansion, outputs):
        super().__init__()
        hidden = inputs * expansion
        self.expand = expansion != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(inputs, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=1e-3)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2,
                                         groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=1e-3)
        self._project_conv = nn.Conv2d(hidden, outputs, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(outputs, eps=1e-3)
        self.residual = stride == 1 and inputs == outputs

    def forward(self, x):
        y = nn.functional.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = nn.functional.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class Lite0(nn.Module):
    def __init__(self):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        blocks, inputs = [], 32
        for kernel, stride, expansion, outputs, repeats in STAGES:
            for r in range(repeats):
                blocks.append(Block(inputs, kernel, stride if r == 0 else 1, expansion, outputs))
                inputs = outputs
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=1e-3)
        self._fc = nn.Linear(1280, 1000)

    def frozen(self, x):
        x = nn.functional.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks[:FINETUNE_FROM_BLOCK]:
            x = block(x)
        return x


class FineTuned(nn.Module):
    """Blocks 12-15, the head convolution and a new classifier, on cached maps."""

    def __init__(self, backbone):
        super().__init__()
        self.blocks = nn.Sequential(*backbone._blocks[FINETUNE_FROM_BLOCK:])
        self.conv_head, self.bn = backbone._conv_head, backbone._bn1
        self.classifier = nn.Linear(1280, GENRES)

    def forward(self, maps):
        x = self.blocks(nn.functional.dropout(maps, 0.1, self.training))
        x = nn.functional.relu6(self.bn(self.conv_head(x)))
        return self.classifier(x.mean((2, 3)))


def load(root, limit):
    paths = sorted((pathlib.Path(root) / "train").glob("*/*.jpg"))[:limit]
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB").resize((224, 224), Image.BILINEAR))
                       for p in paths])
    genres = sorted({p.parent.name for p in paths})
    labels = np.array([genres.index(p.parent.name) for p in paths])
    return pixels, labels


def frozen_pass(model, pixels):
    """Images per second through the frozen layers, and the maps they made."""
    mean = torch.tensor([0.498, 0.498, 0.498]).view(1, 3, 1, 1) * 255
    scale = torch.tensor([0.502, 0.502, 0.502]).view(1, 3, 1, 1) * 255
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2)
    maps = []
    with torch.inference_mode():
        model.frozen(((x[:64].float() - mean) / scale).contiguous(memory_format=torch.channels_last))
        start = time.perf_counter()
        for i in range(0, len(x), 64):
            batch = ((x[i:i + 64].float() - mean) / scale).contiguous(memory_format=torch.channels_last)
            maps.append(model.frozen(batch))
        seconds = time.perf_counter() - start
    return len(x) / seconds, torch.cat(maps)


def fine_tune(backbone, maps, labels, epochs, bf16):
    """Maps per second while training the last blocks on cached maps (in bf16 autocast when
    `bf16`, as `--precision bf16`)."""
    torch.manual_seed(0)
    model = FineTuned(copy.deepcopy(backbone)).to(memory_format=torch.channels_last)
    model.train()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()  # running statistics stay ImageNet's; scale and shift train
    optimiser = torch.optim.Adam(model.parameters(), 1e-4)
    return images_per_second(model, optimiser, maps, torch.from_numpy(labels), epochs, bf16,
                             shuffle=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("covers")
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--weights", default=str(pathlib.Path(__file__).resolve().parents[2]
                                              / ".deps/weights/efficientnet-lite0.pth"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = Lite0()
    model.load_state_dict(torch.load(args.weights, map_location="cpu"))
    model = model.to(memory_format=torch.channels_last).eval()
    pixels, labels = load(args.covers, args.images)
    per_second, maps = frozen_pass(model, pixels)
    print(json.dumps({"framework": "pytorch", "stage": "frozen pass (blocks 0-11, 224 px)",
                      "img_per_s": round(per_second, 1)}), flush=True)
    maps = maps.contiguous(memory_format=torch.channels_last)
    for name, bf16 in (("pytorch", False), ("pytorch-bf16-autocast", True)):
        per_second = fine_tune(model, maps, labels, args.epochs, bf16)
        print(json.dumps({"framework": name, "stage": "fine-tuning blocks 12-15 on cached maps",
                          "img_per_s": round(per_second, 1)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
