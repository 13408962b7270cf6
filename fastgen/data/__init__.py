"""Datasets the CLI can name — ``mnist`` (embedded subset or a local full MNIST), ``digits``,
``gaussians`` — or any image folder, through :func:`load_dataset`; and the mode-collapse metrics
of the ring of Gaussians. Data licences: README.md in this folder."""

from fastgen.data.datasets import ByteImageDataset, DatasetInfo, LabeledDataset
from fastgen.data.gaussians import high_quality_fraction, modes_covered, ring_centers, sample_ring
from fastgen.data.idx import read_idx
from fastgen.data.image_folder import ImageFolderDataset
from fastgen.data.load import DATASET_NAMES, load_dataset
from fastgen.data.mnist import find_mnist_files, load_embedded_mnist
from fastgen.data.sampling import ShardedSampler, StepBatchSampler, shuffled_indices
from fastgen.image_files import IMAGE_EXTENSIONS

__all__ = [
    "DATASET_NAMES",
    "IMAGE_EXTENSIONS",
    "ByteImageDataset",
    "DatasetInfo",
    "ImageFolderDataset",
    "LabeledDataset",
    "find_mnist_files",
    "high_quality_fraction",
    "load_dataset",
    "load_embedded_mnist",
    "modes_covered",
    "read_idx",
    "ring_centers",
    "sample_ring",
    "ShardedSampler",
    "StepBatchSampler",
    "shuffled_indices",
]
