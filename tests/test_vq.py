"""The ``vq`` family on a tiny model trained here from YAML through every stage: exact index round trips on real
images, reproducible k-means sub-codebooks stored in the model file, lost-index recovery, member drawing for the
lower points, the CLI's ``--drop-rate``, and lower rate points stored as deltas on the top one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from neuralcodec.codecs.model_file import BASE_KEY, load_model_file, save_model_file, weights_hash
from neuralcodec.codecs.registry import load_codec, read_model_file
from neuralcodec.codecs.vq import VectorQuantized
from neuralcodec.codecs.vq.codec import delta_on_top_point
from neuralcodec.codecs.vq.grid import vectors_on_grid
from neuralcodec.codecs.vq.kmeans import kmeans
from neuralcodec.codecs.vq.members import draw_members
from neuralcodec.codecs.vq.net import VQNet
from neuralcodec.codecs.vq.restore import drop_mask, nearest_fill, restore
from neuralcodec.coding import decode_bytes, encode_file
from neuralcodec.image_io import read_image
from neuralcodec.training.vq_module import VQLitModule

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "tiny-vq.yaml"
LATENT_DATA = ["--data.class_path", "neuralcodec.datasets.latent_cache.LatentCacheDataModule",
               "--data.init_args.latent_crop", "4", "--data.init_args.batch_size", "2",
               "--data.init_args.train_dirs", "[samples]", "--data.init_args.val_dir", "samples",
               "--data.init_args.val_images", "1", "--data.init_args.samples_per_epoch", "8"]


def train(root: Path, *extra: str) -> Path:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    out = subprocess.run([sys.executable, "-m", "neuralcodec.cli", "train", "--config", str(TINY),
                          "--trainer.default_root_dir", str(root), *extra],
                         capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    (model,) = root.glob("vq-q*.pt")
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Decoder stage (top point, q3) → restorer stage → decoder fine-tune of sub-codebook level 2 (q1), and the
    members stage of sub-codebook level 1 (q2) on the top point."""
    tmp = tmp_path_factory.mktemp("vq")
    decoder = train(tmp / "decoder")
    top = train(tmp / "restorer", "--model.init_args.stage", "restorer", "--model.init_args.init_from", str(decoder),
                *LATENT_DATA, "--data.init_args.source_model", str(decoder),
                "--data.init_args.cache_dir", str(tmp / "cache"))
    low = train(tmp / "q1", "--model.init_args.level", "2", "--model.init_args.quality", "1",
                "--model.init_args.init_from", str(top))
    members = train(tmp / "q2", "--model.init_args.stage", "members", "--model.init_args.level", "1",
                    "--model.init_args.quality", "2", "--model.init_args.init_from", str(top),
                    "--trainer.max_epochs", "1")
    return {"decoder": decoder, "top": top, "low": low, "members": members}


def odd_crops(sample_path: Path) -> list[tuple[torch.Tensor, int]]:
    """(image, channels to write it with): an odd-sized colour crop, an odd-sized grayscale one, the whole image."""
    image, _ = read_image(sample_path)
    crop = image[:, 11:86, 7:60]  # 75 × 53: neither side a multiple of 16
    grey = image[:, :41, :33].float().mean(0, keepdim=True).round().to(torch.uint8).expand(3, -1, -1).contiguous()
    return [(crop, 3), (grey, 1), (image, 3)]


def test_stages_export_their_parts(models):
    top, low = load_model_file(models["top"]), load_model_file(models["low"])
    assert top["level"] == 0 and low["level"] == 2 and low["quality"] == 1
    assert top["level_sizes"].tolist() == [64, 16, 4]
    assert len(top["prior"]) == 65 and len(low["prior"]) == 5  # entries + escape
    assert any(k.startswith("restorer.") for k in top["weights"])
    assert low["prior_counts"].sum() > 0  # the prior was counted on the training crops
    kept = load_model_file(models["low"].parent / "exports" / "step-2.pt")  # ExportModel(keep_each=True)
    assert kept["meta"]["steps"] == 2 and kept["quality"] == 1 and low["meta"]["steps"] == 3
    restorer_keys = [k for k in top["weights"] if k.startswith("restorer.")]
    decoder = load_model_file(models["decoder"])
    assert not all(torch.equal(top["weights"][k].float(), decoder["weights"][k].float()) for k in restorer_keys)
    for key in ("g_a.0.weight", "to_code.1.weight"):  # the encoder is frozen after the first stage
        assert torch.equal(top["weights"][key], decoder["weights"][key]) and torch.equal(low["weights"][key],
                                                                                        top["weights"][key])


@pytest.mark.parametrize("which", ["top", "low", "members"])
def test_index_round_trip_is_bit_exact(models, sample_path, tmp_path, which):
    from neuralcodec.image_io import write_image

    codec = load_codec(model_file=models[which])
    for i, (image, channels) in enumerate(odd_crops(sample_path)):
        path = tmp_path / f"in{i}.png"
        write_image(image, path, channels)
        enc = encode_file(path, model_file=models[which], reconstruct=True)
        decoded, header = decode_bytes(enc.data, model_file=models[which])
        assert torch.equal(decoded, enc.reconstruction) and decoded.shape == image.shape
        from neuralcodec.bitstream import unpack

        _, chunks = unpack(enc.data)
        symbols = codec.decode_symbols(codec.family.streams_from_chunks(chunks), header.height, header.width)
        assert np.array_equal(symbols["indices"], codec.indices(image))
        assert symbols["indices"].max() < codec.entries


def test_kmeans_mapping_is_reproducible_and_stored(models):
    blob = load_model_file(models["top"])
    net = VQNet(**blob["arch"])
    net.load_state_dict(load_codec(model_file=models["top"]).net.state_dict())
    net.set_levels([64, 16, 4], seed=0)  # the training configs' kmeans_seed
    assert torch.equal(net.level_assign, blob["level_assign"].long())
    for level, again in enumerate(net.level_centroids, start=1):
        assert torch.equal(blob["level_centroids"][str(level)], again)
    points = np.random.default_rng(5).normal(size=(200, 4))
    a1, c1 = kmeans(points, 12, seed=3)
    a2, c2 = kmeans(points, 12, seed=3)
    assert np.array_equal(a1, a2) and np.array_equal(c1, c2) and len(np.unique(a1)) == 12
    assert not np.array_equal(a1, kmeans(points, 12, seed=4)[0])
    codec = load_codec(model_file=models["low"])  # a lower point decodes from its group's centroid
    assert torch.equal(codec.codebook, blob["level_centroids"]["2"])


@pytest.mark.parametrize("rate", [0.1, 0.4])
def test_restoration_keeps_every_kept_index(models, sample_path, rate):
    image, _ = read_image(sample_path)
    for which in ("top", "low"):
        codec = load_codec(model_file=models[which])
        indices = codec.indices(image)
        lost = drop_mask(indices.shape, rate, seed=2)
        assert lost.sum() == round(rate * indices.size)
        for restored in (restore(codec.net.restorer, indices, lost, codec.codebook, codec.assign),
                         nearest_fill(indices, lost)):
            assert restored.shape == indices.shape and restored.dtype == indices.dtype
            assert np.array_equal(restored[~lost], indices[~lost])
            assert restored.min() >= 0 and restored.max() < codec.entries


def test_cli_drop_rate_is_seeded_and_family_checked(models, sample_path, tmp_path, run_cli):
    model = models["top"]
    bin_path = tmp_path / "p.bin"
    assert run_cli("encode", sample_path, "-o", bin_path, "--model", model).returncode == 0
    outs = []
    for name, extra in (("a", ["--seed", "3"]), ("b", ["--seed", "3"]), ("c", ["--seed", "4"]),
                        ("n", ["--seed", "3", "--recovery", "nearest"])):
        out = tmp_path / f"{name}.png"
        res = run_cli("decode", bin_path, "-o", out, "--model", model, "--drop-rate", "0.2", *extra)
        assert res.returncode == 0, res.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and outs[0] != outs[2] and outs[0] != outs[3]
    bad = run_cli("decode", bin_path, "-o", tmp_path / "x.png", "--model", model, "--drop-rate", "1.5")
    assert bad.returncode != 0 and "drop-rate" in bad.stderr and "Traceback" not in bad.stderr
    hp = tmp_path / "h.bin"
    assert run_cli("encode", sample_path, "-o", hp, "--quality", "0").returncode == 0
    res = run_cli("decode", hp, "-o", tmp_path / "h.png", "--drop-rate", "0.2")
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1 and "hyperprior" in res.stderr
    assert not (tmp_path / "h.png").exists()


def test_lower_point_is_stored_as_a_delta_on_the_top_point(models, tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    save_model_file(load_model_file(models["top"]), weights / "vq-q3.pt")
    full = load_model_file(models["low"])
    delta = delta_on_top_point(full, VectorQuantized, weights)
    assert BASE_KEY in delta and "codebook" not in delta and "restorer.head.weight" not in delta["weights"]
    save_model_file(delta, weights / "vq-q1.pt")
    assert (weights / "vq-q1.pt").stat().st_size < 0.8 * models["low"].stat().st_size
    merged = read_model_file(weights / "vq-q1.pt", weights_dir=weights)
    assert weights_hash(merged) == weights_hash(full)
    top = load_model_file(models["top"])
    assert delta_on_top_point(top, VectorQuantized, weights) is not None  # the top point: whole
    assert BASE_KEY not in delta_on_top_point(load_model_file(models["top"]), VectorQuantized, weights)


def test_codec_export_of_a_vq_checkpoint(models, tmp_path, run_cli):
    (ckpt,) = models["top"].parent.glob("**/last.ckpt")
    out = tmp_path / "exported.pt"
    res = run_cli("export", ckpt, "-o", out)
    assert res.returncode == 0, res.stderr
    exported, trained = load_codec(model_file=out), load_codec(model_file=models["top"])
    assert exported.family.name == "vq" and exported.entries == trained.entries
    assert torch.equal(exported.codebook, trained.codebook)


def test_codec_export_refuses_shipped_folder_existing_files_other_suffixes_and_mismatches(models, tmp_path, run_cli):
    from neuralcodec.codecs.registry import WEIGHTS_DIR

    (ckpt,) = models["top"].parent.glob("**/last.ckpt")

    def refused(*args: object) -> str:
        res = run_cli("export", *args)
        assert res.returncode != 0 and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
        return res.stderr

    shipped = sorted(WEIGHTS_DIR.glob("*.pt"))[0]
    before = shipped.read_bytes()
    assert "installed weights folder" in refused(ckpt, "-o", shipped, "--force")
    assert "installed weights folder" in refused(ckpt, "-o", WEIGHTS_DIR / "new-q9.pt")
    assert shipped.read_bytes() == before and not (WEIGHTS_DIR / "new-q9.pt").exists()
    assert "not .png" in refused(ckpt, "-o", tmp_path / "e.png")
    assert "checkpoint not found" in refused(tmp_path / "missing.ckpt", "-o", tmp_path / "m.pt")
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"my own file")
    assert "--force" in refused(ckpt, "-o", mine)
    assert mine.read_bytes() == b"my own file"
    assert run_cli("export", ckpt, "-o", mine, "--force").returncode == 0
    assert load_codec(model_file=mine).family.name == "vq"
    blob = torch.load(ckpt, weights_only=False)  # the vq networks' weights under a hyperprior's name
    blob["hyper_parameters"]["family"] = blob["family"] = "hyperprior"
    blob["hyper_parameters"].pop("arch", None)
    torch.save(blob, tmp_path / "foreign.ckpt")
    assert "does not match the hyperprior network" in refused(tmp_path / "foreign.ckpt", "-o", tmp_path / "f.pt")
    assert not (tmp_path / "f.pt").exists()


def test_restorer_stage_joins_a_decoder_trained_beside_it(models, tmp_path):
    """``restorer_from``: the restorer of one file and everything else of another (configs/vq/top.yaml); at lr 0 the
    joined file holds exactly the two parts, and the stage both share is counted once in its training history."""
    joined = train(tmp_path / "join", "--model.init_args.stage", "restorer", "--model.init_args.lr", "0",
                   "--model.init_args.init_from", str(models["decoder"]),
                   "--model.init_args.restorer_from", str(models["top"]),
                   *LATENT_DATA, "--data.init_args.source_model", str(models["decoder"]),
                   "--data.init_args.cache_dir", str(tmp_path / "cache"))
    blob, top, decoder = (load_model_file(p) for p in (joined, models["top"], models["decoder"]))
    for key, value in blob["weights"].items():
        assert torch.equal(value, (top if key.startswith("restorer.") else decoder)["weights"][key]), key
    sources = [stage["source"] for stage in blob["meta"]["lineage"]]
    assert str(models["top"]) in sources and len(sources) == len(set(sources))
    other = train(tmp_path / "other", "--seed_everything", "2")  # another codebook: its restorer does not fit
    arch = yaml.safe_load(TINY.read_text())["model"]["init_args"]["arch"]
    with pytest.raises(ValueError, match="differ"):
        VQLitModule(stage="restorer", arch=arch, init_from=str(models["decoder"]), restorer_from=str(other))


def test_members_stage_trains_nothing_and_counts_the_prior(models, tmp_path):
    top, members = load_model_file(models["top"]), load_model_file(models["members"])
    assert members["level"] == 1 and members["quality"] == 2 and int(members["draw_members"]) == 1
    assert "draw_members" not in top and "draw_members" not in load_model_file(models["low"])
    for key, value in top["weights"].items():  # every weight as the top point's, the restorer included
        assert torch.equal(members["weights"][key], value), key
    counts = members["prior_counts"]
    assert len(counts) == 16 and counts.sum() == 4 * 2 * (64 // 16) ** 2  # 4 batches of 2 crops of 4 × 4 indices
    assert members["meta"]["steps"] == 0
    weights = tmp_path / "weights"  # stored on the top point, the file is its level, prior and draw flag
    weights.mkdir()
    save_model_file(top, weights / "vq-q3.pt")
    delta = delta_on_top_point(members, VectorQuantized, weights)
    assert set(delta) - {"format", "family", "model_id", "quality", "arch", "meta", BASE_KEY} == {
        "level", "prior", "prior_counts", "draw_members"}
    save_model_file(delta, weights / "vq-q2.pt")
    assert weights_hash(read_model_file(weights / "vq-q2.pt", weights_dir=weights)) == weights_hash(members)
    with pytest.raises(ValueError, match="level > 0"):
        VQLitModule(stage="members", arch=top["arch"], level=0, init_from=str(models["top"]))


def test_drawn_members_belong_to_their_groups_and_are_seeded(models, sample_path):
    codec = load_codec(model_file=models["members"])
    assert codec.draws_members and not load_codec(model_file=models["low"]).draws_members
    image, _ = read_image(sample_path)
    image = image.repeat(1, 2, 2)  # a grid of several restorer windows (24 + margins) each way
    groups = codec.indices(image)
    assert min(groups.shape) > 36
    args = (codec.exact_restorer, groups, codec.codebook, codec.net.quantizer.codebook, codec.assign)
    codes = draw_members(*args)
    assert codes.shape == groups.shape and torch.equal(codec.assign[codes], torch.from_numpy(groups).long())
    assert torch.equal(codes, draw_members(*args)) and not torch.equal(codes, draw_members(*args, seed=1))
    assert len(torch.unique(codes)) > len(np.unique(groups))  # several members of a group drawn, not one per group
    # synthesis decodes the drawn codes' full-codebook vectors, not the centroids
    pixels = codec.synthesize(groups, image.shape[1], image.shape[2])
    centroid_vectors = vectors_on_grid(torch.from_numpy(groups).long(), codec.codebook)[None]
    assert not torch.equal(pixels, codec._pixels(centroid_vectors)[0])
