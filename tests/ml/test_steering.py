"""SteeredService and the research helpers on a tiny random VDIR (CPU, fixed seeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core import image_io
from app.core.errors import InvalidInputError
from app.core.progress import drive
from app.ml.steering import (
    Interpolation,
    LatentEdit,
    LatentRef,
    SteeredService,
    Transplant,
    contact_sheet,
    embedding,
    estimate_map,
    pca_2d,
    strength_direction,
    sweep,
    uncertainty,
)
from tests.ml.tiny_vdir import TinyVDIRService, tiny_service
from tests.ui.fakes import InvertService

MARGIN = 24  # px: beyond the tiny restorer's reach from a changed latent cell


@pytest.fixture(scope="module")
def base() -> TinyVDIRService:
    return tiny_service()


def image(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def steered(base: TinyVDIRService, img: np.ndarray, edit: LatentEdit, **kw) -> np.ndarray:  # noqa: ANN003
    return drive(SteeredService(base, edit, **kw).run(img))


def test_neutral_steering_equals_the_plain_service(base: TinyVDIRService) -> None:
    img = image()
    service = SteeredService(base)
    out = drive(service.run(img))
    np.testing.assert_allclose(out, drive(base.run(img)), atol=1e-6)
    assert service.info.title.endswith("(steered)") and service.info.method == "vdir"
    layers = service.extra_layers
    assert set(layers) == {
        "Latent c0",
        "Latent c1",
        "Latent c2",
        "Latent c3",
        "Latent std",
        "EST sigma",
    }
    assert all(v.shape == (16, 20) and v.dtype == np.float32 for v in layers.values())
    mean = base.encode(img)
    assert np.array_equal(layers["Latent c2"], mean[..., 2])
    assert float(layers["EST sigma"].mean()) == pytest.approx(
        base.estimate(mean)["sigma"], rel=1e-4
    )


def test_refuses_a_service_without_a_latent() -> None:
    with pytest.raises(InvalidInputError, match="latent"):
        SteeredService(InvertService())  # type: ignore[arg-type]


def test_the_registry_builds_steered_services_and_refuses_plain_ones(
    base: TinyVDIRService,
) -> None:
    from app.ml import registry

    edit = LatentEdit(strength=1.7)
    steered_service = registry.create_steered_service(base, edit, origin=(4, 8))
    assert isinstance(steered_service, SteeredService) and steered_service.edit == edit
    np.testing.assert_allclose(
        drive(steered_service.run(image())), steered(base, image(), edit, origin=(4, 8))
    )
    with pytest.raises(InvalidInputError, match="latent"):
        registry.create_steered_service(InvertService())


def test_strength_changes_the_output_and_params_override_the_edit(base: TinyVDIRService) -> None:
    img = image()
    neutral = steered(base, img, LatentEdit())
    stronger = steered(base, img, LatentEdit(strength=2.5))
    assert np.abs(stronger - neutral).mean() > 1e-3
    service = SteeredService(base, LatentEdit(strength=2.5))
    np.testing.assert_allclose(
        drive(service.run(img, params={"latent_strength": 1.0})), neutral, atol=1e-6
    )
    assert service.used_edit.strength == 1.0


def test_channel_reset_restores_the_output_exactly(base: TinyVDIRService) -> None:
    img = image()
    neutral = steered(base, img, LatentEdit())
    edit = LatentEdit().with_channel(1, gain=1.8, offset=0.5)
    assert np.abs(steered(base, img, edit) - neutral).max() > 1e-3
    back = edit.with_channel(1, gain=1.0, offset=0.0)
    assert np.array_equal(steered(base, img, back), neutral)


def test_direction_of_a_crop_is_the_crop_of_the_direction(base: TinyVDIRService) -> None:
    img = image(96, 112)
    whole = strength_direction(base, img)
    crop = strength_direction(base, img[32:96, 16:112], origin=(32, 16))
    # the encoder sees 12 px around a cell: compare cells 4+ cells away from the crop edge
    np.testing.assert_allclose(crop[4:-4, 4:-4], whole[8 + 4 : 24 - 4, 4 + 4 : 28 - 4], atol=1e-5)


def test_crop_preview_matches_the_render_inside(base: TinyVDIRService) -> None:
    img = image(128, 128)
    smap = np.full((128, 128), 0.5, np.float32)
    smap[40:90, 40:90] = 1.0
    edit = LatentEdit(strength=1.6)
    full = steered(base, img, edit, strength_map=smap)
    origin = (32, 28)
    crop = img[32:128, 28:128]
    part = steered(base, crop, edit, strength_map=smap, origin=origin, full_size=(128, 128))
    inner = full[32 + MARGIN : 128 - MARGIN, 28 + MARGIN : 128 - MARGIN]
    np.testing.assert_allclose(part[MARGIN:-MARGIN, MARGIN:-MARGIN], inner, atol=1e-4)
    with pytest.raises(InvalidInputError, match="multiples of 4"):
        SteeredService(base, edit, origin=(3, 0))


def test_strength_map_changes_only_near_the_painted_area(base: TinyVDIRService) -> None:
    img = image(128, 128)
    smap = np.full((128, 128), 0.5, np.float32)
    smap[48:80, 48:80] = 1.0
    plain = steered(base, img, LatentEdit())
    painted = steered(base, img, LatentEdit(map_gain=1.5), strength_map=smap)
    diff = np.abs(painted - plain).max(axis=2)
    assert diff[48:80, 48:80].mean() > 1e-3
    far = np.ones_like(diff, bool)
    far[48 - MARGIN : 80 + MARGIN, 48 - MARGIN : 80 + MARGIN] = False
    assert diff[far].max() < 1e-5
    with pytest.raises(InvalidInputError, match="same size"):
        steered(base, img, LatentEdit(), strength_map=smap[:-1])


def test_region_transplant_uses_the_regions_mean_code(base: TinyVDIRService) -> None:
    img = image(96, 96)
    img[:32, :32] = 0.8  # a flat patch: its code differs from the noise around it
    edit = LatentEdit(transplant=Transplant(LatentRef("region", (0, 0, 32, 32))))
    service = SteeredService(base, edit)
    out = drive(service.run(img))
    assert np.abs(out - drive(base.run(img))).mean() > 1e-3
    boxed = LatentEdit(
        transplant=Transplant(LatentRef("region", (0, 0, 32, 32)), apply_to=(48, 48, 96, 96))
    )
    part = steered(base, img, boxed)
    diff = np.abs(part - drive(base.run(img))).max(axis=2)
    assert diff[56:96, 56:96].mean() > 1e-3 and diff[: 48 - MARGIN, :].max() < 1e-5


def test_image_transplant_of_the_same_picture_changes_nothing(
    base: TinyVDIRService, tmp_path: Path
) -> None:
    img = image(64, 80)
    path = image_io.save(tmp_path / "same.png", img, bit_depth=16)
    same = image_io.load(path).pixels
    edit = LatentEdit(transplant=Transplant(LatentRef("image", path=str(path))))
    np.testing.assert_allclose(steered(base, same, edit), drive(base.run(same)), atol=1e-6)
    half = LatentEdit(interpolation=Interpolation(LatentRef("image", path=str(path)), t=0.5))
    np.testing.assert_allclose(steered(base, same, half), drive(base.run(same)), atol=1e-5)
    missing = LatentEdit(transplant=Transplant(LatentRef("image", path=str(tmp_path / "no.png"))))
    with pytest.raises(InvalidInputError, match="does not exist"):
        steered(base, same, missing)


def test_sampling_uses_the_seed(base: TinyVDIRService) -> None:
    img = image()
    a = drive(SteeredService(base).run(img, params={"seed": 4}))
    b = drive(SteeredService(base).run(img, params={"seed": 4}))
    c = drive(SteeredService(base).run(img, params={"seed": 5}))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_uncertainty_sweep_and_sheet(base: TinyVDIRService) -> None:
    img = image(48, 64)
    spread = uncertainty(base, img, n=3, seed=0)
    assert spread.shape == (48, 64) and spread.dtype == np.float32
    assert spread.min() >= 0 and spread.max() > 0
    with pytest.raises(InvalidInputError, match="2 samples"):
        uncertainty(base, img, n=1)
    cells = sweep(base, img, "strength", [0.5, 1.0, 2.0])
    assert len(cells) == 3
    np.testing.assert_allclose(cells[1], drive(base.run(img)), atol=1e-6)
    offsets = sweep(base, img, "offset3", [-1.0, 0.0])
    assert not np.allclose(offsets[0], offsets[1])
    with pytest.raises(InvalidInputError, match="sweep"):
        sweep(base, img, "colour", [1.0])
    sheet = contact_sheet(cells, ["0.5", "1.0", "2.0"], cols=3)
    assert sheet.shape == (8 + 48 + 22 + 8, 8 + 3 * (64 + 8), 3)


def test_embedding_of_patches(base: TinyVDIRService) -> None:
    imgs = [image(64, 96, seed=s) for s in (0, 1)]
    emb = embedding(base, imgs, patch=32)
    assert emb.points.shape == (12, 2) and emb.features.shape == (12, 4)
    assert emb.est.shape == (12,) and emb.boxes.shape == (12, 5)
    assert list(emb.boxes[7]) == [1, 0, 32, 32, 64]
    assert 0.0 <= emb.explained[1] <= emb.explained[0] <= 1.0
    again = embedding(base, imgs, patch=32)
    assert np.array_equal(emb.points, again.points)
    mean = base.encode(imgs[0])
    est = estimate_map(base, mean)
    assert emb.est[0] == pytest.approx(est[:8, :8].mean(), rel=1e-5)
    with pytest.raises(InvalidInputError, match="multiple of 4"):
        embedding(base, imgs[0], patch=30)


def test_pca_recovers_the_main_axis() -> None:
    t = np.linspace(-1, 1, 50)
    feats = np.stack([t, 2 * t, np.zeros_like(t), 0.01 * np.sin(9 * t)], axis=1)
    points, explained = pca_2d(feats)
    assert explained[0] > 0.99
    np.testing.assert_allclose(np.abs(points[:, 0]), np.abs(t) * np.sqrt(5), rtol=1e-4)


def test_automatic_step_is_resolved_and_recorded(base: TinyVDIRService) -> None:
    from app.ml.steering import estimate_step
    from app.ml.steering.edit import auto_step

    img = image()
    service = SteeredService(base, LatentEdit(strength=2.0))
    out = drive(service.run(img))
    step = service.used_edit.steer_sigma
    assert step == auto_step(base.estimate(base.encode(img))["sigma"])
    fixed = drive(SteeredService(base, LatentEdit(strength=2.0, steer_sigma=step)).run(img))
    assert np.array_equal(out, fixed)
    assert estimate_step(base, img) == step
    neutral = SteeredService(base)
    drive(neutral.run(img))
    assert neutral.used_edit.steer_sigma is None  # no direction needed, nothing resolved


def test_tsne_keeps_separated_clusters_apart_and_is_repeatable() -> None:
    from app.ml.steering.views import project_2d

    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0, 0], [5, 5, 0, 0], [0, 0, 5, -5]], np.float32)
    labels = np.repeat(np.arange(3), 20)
    feats = centres[labels] + rng.normal(0, 0.1, (60, 4)).astype(np.float32)
    points, explained = project_2d(feats, "tsne")
    assert points.shape == (60, 2) and np.isnan(explained).all()
    own = [points[labels == k].mean(axis=0) for k in range(3)]
    nearest = [int(np.argmin([np.linalg.norm(p - c) for c in own])) for p in points]
    assert nearest == labels.tolist()  # every point sits closest to its own cluster
    assert np.array_equal(points, project_2d(feats, "tsne")[0])
    with pytest.raises(InvalidInputError, match="unknown projection"):
        project_2d(feats, "umap")


def test_embedding_by_tsne(base: TinyVDIRService) -> None:
    imgs = [image(64, 96, seed) for seed in range(2)]
    emb = embedding(base, imgs, patch=16, method="tsne")
    assert emb.method == "tsne" and emb.points.shape == (len(emb.est), 2)


def test_camera_steering_noise_gives_its_own_crop_consistent_direction(
    base: TinyVDIRService,
) -> None:
    img = image(128, 128, seed=2)
    gaussian = strength_direction(base, img)
    base.steer_noise = "camera"  # type: ignore[attr-defined]
    try:
        camera = strength_direction(base, img)
        crop = strength_direction(base, img[32:96, 16:112], origin=(32, 16))
    finally:
        del base.steer_noise  # type: ignore[attr-defined]
    assert not np.allclose(camera, gaussian)
    np.testing.assert_allclose(crop[4:-4, 4:-4], camera[8:24, 4:28][4:-4, 4:-4], atol=1e-4)
