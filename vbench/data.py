"""Data pipeline: ImageFolder or synthetic images through a DataLoader, an epoch split, accuracy.

``--vb-data DIR`` points at an ImageFolder (one sub-folder per class). Without it, a synthetic
in-memory set of uint8 images stands in: augmentation and collation are measured, JPEG decoding is
not (the cell's ``data_source`` says which). A corrupt or unreadable image is **skipped and counted**
(``data_skipped_images``), never fatal: one bad file in a large folder should not stop a benchmark.
An empty or unreadable folder is a one-line error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from vbench.errors import VBenchError

__all__ = [
    "DataSpec",
    "SYNTHETIC_IMAGES",
    "build_dataset",
    "build_loader",
    "cycle_batches",
    "EpochSplit",
    "epoch_split",
    "accuracy",
]

SYNTHETIC_IMAGES = 64
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DataSpec:
    """Where images come from and how they are loaded."""

    root: Path | None = None
    workers: int = 2
    pin_memory: bool | None = None  # None: on when the device is CUDA

    def __post_init__(self):
        if self.workers < 0:
            raise VBenchError(f"--vb-data-workers must be >= 0, got {self.workers}")


def _transform(img_size: int, train: bool, from_pil: bool):
    from torchvision.transforms import v2

    steps = [v2.PILToTensor()] if from_pil else []
    if train:
        steps += [v2.RandomResizedCrop(img_size, antialias=True), v2.RandomHorizontalFlip()]
    else:
        steps += [v2.Resize(int(img_size / 0.875), antialias=True), v2.CenterCrop(img_size)]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return v2.Compose(steps)


class _SkippingImageFolder(Dataset):
    """torchvision's ImageFolder whose unreadable images come back as None (skipped by the collate)."""

    def __init__(self, root: Path, transform):
        from torchvision.datasets import ImageFolder

        try:
            self.folder = ImageFolder(str(root), transform=transform)
        except (FileNotFoundError, OSError) as exc:
            raise VBenchError(f"--vb-data {str(root)!r}: {str(exc).splitlines()[0]}") from None
        if len(self.folder) == 0:
            raise VBenchError(f"--vb-data {str(root)!r} holds no images")
        self.classes = self.folder.classes

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int):
        try:
            return self.folder[index]
        except OSError:  # PIL's UnidentifiedImageError and truncated files are OSErrors
            return None


class _SyntheticImages(Dataset):
    """Seeded uint8 images slightly larger than the crop, with labels; transforms run per item."""

    classes = [str(i) for i in range(10)]

    def __init__(self, img_size: int, transform, n: int = SYNTHETIC_IMAGES, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        side = int(img_size / 0.875)
        self.images = torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=generator)
        self.labels = torch.randint(0, len(self.classes), (n,), generator=generator)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.transform(self.images[index]), int(self.labels[index])


def build_dataset(spec: DataSpec, img_size: int, *, train: bool, seed: int = 0) -> Dataset:
    """The ImageFolder at ``spec.root`` (or synthetic images), with train or eval transforms."""
    if spec.root is None:
        return _SyntheticImages(img_size, _transform(img_size, train, from_pil=False), seed=seed)
    return _SkippingImageFolder(spec.root, _transform(img_size, train, from_pil=True))


def _collate(items: list) -> tuple[torch.Tensor, torch.Tensor, int]:
    kept = [item for item in items if item is not None]
    skipped = len(items) - len(kept)
    if not kept:
        return torch.empty(0), torch.empty(0, dtype=torch.long), skipped
    images, labels = zip(*kept)
    return torch.stack(images), torch.tensor(labels), skipped


def build_loader(dataset: Dataset, spec: DataSpec, batch_size: int, device: torch.device, *,
                 shuffle: bool, persistent: bool = False, seed: int = 0) -> DataLoader:
    """A DataLoader yielding ``(images, labels, skipped_count)`` batches; training loaders
    (``shuffle``) drop the last partial batch, as training does (batch norm needs more than one sample)."""
    pin = spec.pin_memory if spec.pin_memory is not None else device.type == "cuda"
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=spec.workers, collate_fn=_collate,
        pin_memory=pin, persistent_workers=persistent and spec.workers > 0, drop_last=shuffle,
        generator=torch.Generator().manual_seed(seed),
    )


def cycle_batches(loader: DataLoader) -> Iterator:
    """Batches forever, restarting the loader at each epoch's end."""
    while True:
        yield from loader


@dataclass
class EpochSplit:
    """One pass over the data: where the time went (seconds) and how many images."""

    epoch_s: float = 0.0
    first_batch_s: float = 0.0
    data_wait_s: float = 0.0
    h2d_s: float = 0.0
    compute_s: float = 0.0
    images: int = 0
    skipped_images: int = 0

    def as_fields(self) -> dict[str, Any]:
        return {
            "epoch_s": self.epoch_s,
            "time_to_first_batch_s": self.first_batch_s,
            "epoch_data_wait_s": self.data_wait_s,
            "epoch_h2d_s": self.h2d_s,
            "epoch_compute_s": self.compute_s,
            "epoch_images": self.images,
            "data_skipped_images": self.skipped_images,  # unreadable images met in the epoch
        }


def epoch_split(loader: DataLoader, step, device: torch.device, timer) -> EpochSplit:
    """Run ``step(images, labels)`` over one epoch of ``loader``, timing data wait, host-to-device
    copies (``non_blocking`` from pinned memory on CUDA) and compute with the synchronized ``timer``."""
    split = EpochSplit()
    start = last = timer()
    non_blocking = device.type == "cuda"
    for images, labels, skipped in loader:
        fetched = timer()
        split.data_wait_s += fetched - last
        if split.images == 0 and split.skipped_images == 0:
            split.first_batch_s = fetched - start
        split.skipped_images += skipped
        if len(images) < 2:  # every image of the batch was unreadable but one: nothing to train on
            last = timer()
            continue
        images = images.to(device, non_blocking=non_blocking)
        labels = labels.to(device, non_blocking=non_blocking)
        copied = timer()
        split.h2d_s += copied - fetched
        step(images, labels)
        last = timer()
        split.compute_s += last - copied
        split.images += len(images)
    split.epoch_s = timer() - start
    if split.images == 0 and split.skipped_images:  # every image unreadable: a rate would be invented
        raise _nothing_readable(loader, split.skipped_images)
    return split


def _nothing_readable(loader: DataLoader, skipped: int) -> VBenchError:
    root = getattr(getattr(loader.dataset, "folder", None), "root", "the data")
    return VBenchError(f"--vb-data {str(root)!r}: none of its {len(loader.dataset)} images could be read "
                       f"({skipped} unreadable: corrupt or not images)")


def accuracy(model_call, loader: DataLoader, device: torch.device, prepare) -> dict[str, Any]:
    """Top-1 and top-5 accuracy of ``model_call(prepare(images))`` over ``loader`` (eval transforms)."""
    from vbench.correctness import logits_of

    correct1 = correct5 = seen = skipped = 0
    with torch.inference_mode():
        for images, labels, n_skipped in loader:
            skipped += n_skipped
            if len(images) == 0:
                continue
            logits = logits_of(model_call(prepare(images.to(device)))).float()
            top5 = logits.topk(min(5, logits.shape[-1]), dim=-1).indices.cpu()
            correct1 += int((top5[:, 0] == labels).sum())
            correct5 += int((top5 == labels[:, None]).any(dim=1).sum())
            seen += len(labels)
    if seen == 0 and skipped:
        raise _nothing_readable(loader, skipped)
    return {
        "accuracy_top1": correct1 / seen if seen else None,
        "accuracy_top5": correct5 / seen if seen else None,
        "accuracy_images": seen,
        "data_skipped_images": skipped,
    }
