"""Train the embedded digits feature extractor (fastgen/metrics/digits.py) and write its weights.

    python scripts/train_digits.py            # 20 epochs: 80 s of CPU time on one core

Data: the embedded MNIST subset's 4,000 training digits, each batch shifted at random by up to
2 pixels in each direction; evaluated on the subset's 1,000 held-out digits. Adam with a
one-cycle learning rate, label smoothing 0.1, dropout 0.2 before the classifier. A seed fixes
the initialisation, the batch order and the shifts; one thread keeps the run bit-reproducible
(and polite on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from fastgen.data.mnist import load_embedded_mnist
from fastgen.metrics.digits import WEIGHTS_PATH, DigitsExtractor

MAX_SHIFT = 2


def random_shifts(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift each image of ``[N, 1, H, W]`` by whole pixels, dx, dy uniform in [−2, 2], filling with zeros."""
    n, _, height, width = images.shape
    padded = F.pad(images, (MAX_SHIFT,) * 4)
    dy, dx = torch.randint(0, 2 * MAX_SHIFT + 1, (2, n, 1), generator=generator)
    rows = (dy + torch.arange(height)).unsqueeze(2)  # [N, H, 1]
    cols = (dx + torch.arange(width)).unsqueeze(1)  # [N, 1, W]
    return padded[torch.arange(n).view(n, 1, 1), 0, rows, cols].unsqueeze(1)


@torch.no_grad()
def accuracy(model: DigitsExtractor, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    model.eval()
    correct = sum(
        (model(batch)[1].argmax(dim=1) == batch_labels).sum().item()
        for batch, batch_labels in zip(images.split(batch_size), labels.split(batch_size), strict=True)
    )
    return correct / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    train_images, train_labels = (torch.from_numpy(a) for a in load_embedded_mnist(train=True))
    test_images, test_labels = (torch.from_numpy(a) for a in load_embedded_mnist(train=False))
    train_x = train_images.unsqueeze(1).float() / 255.0

    model = DigitsExtractor(dropout=0.2)
    steps_per_epoch = -(-len(train_x) // args.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch
    )
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        total_loss = 0.0
        for batch in order.split(args.batch_size):
            _, logits = model.embed(random_shifts(train_x[batch], generator))
            loss = F.cross_entropy(logits, train_labels[batch], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(batch)
        held_out = accuracy(model, test_images, test_labels)
        print(
            f"epoch {epoch + 1:2d}/{args.epochs}  loss {total_loss / len(train_x):.4f}  "
            f"held-out accuracy {held_out:.2%}  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )

    model.eval()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")
    torch.save(model.state_dict(), tmp)  # then rename: never a half-written weights file
    os.replace(tmp, args.output)
    print(
        f"train accuracy {accuracy(model, train_images, train_labels):.2%}, "
        f"held-out accuracy {accuracy(model, test_images, test_labels):.2%}; "
        f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB)"
    )


if __name__ == "__main__":
    main()
