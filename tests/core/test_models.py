"""The model zoo: weights sources, offline errors a person can act on, local checkpoints."""

import urllib.error

import pytest
import torch

from explorer.core.model import zoo as models
from explorer.core.errors import ExplorerError, WeightsUnavailableError
from explorer.core.model.zoo import list_models, load_model


def test_random_weights_are_seeded_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = load_model("resnet18", "random").module.state_dict()
    assert torch.equal(torch.rand(1), expected_next)
    b = load_model("resnet18", "random").module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_model("resnet18", "random").weights_id == "random:0"


def test_missing_torchvision_weights_offline_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsUnavailableError) as err:
        load_model("vgg16")
    text = str(err.value)
    assert "vgg16-397923af.pth" in text and str(tmp_path / "hub" / "checkpoints") in text
    assert "--weights PATH" in text and "TORCH_HOME" in text


def test_weights_status_follows_the_torch_home_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    status = {m.name: m.weights for m in list_models()}
    assert status["efficientnet_lite0"] == "bundled" and status["resnet18"] == "downloadable"
    assert set(status) == set(models.ZOO)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(b"x")
    assert {m.name: m.weights for m in list_models()}["resnet18"] == "cached"


def test_cached_torchvision_weights_load_offline(tmp_path, monkeypatch):
    """A checkpoint placed in TORCH_HOME is used without any network access."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference = load_model("alexnet", "random").module.state_dict()
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(reference, folder / "alexnet-owt-7be5be79.pth")
    monkeypatch.setattr("torch.hub.download_url_to_file",
                        lambda *a, **k: pytest.fail("tried to download a cached file"))
    loaded = load_model("alexnet")
    assert loaded.weights_id == "AlexNet_Weights.IMAGENET1K_V1"
    assert torch.equal(loaded.module.state_dict()["features.0.weight"], reference["features.0.weight"])
    assert loaded.categories[0] == "tench"


def test_local_checkpoint_with_wrapper_and_prefix(tmp_path):
    state = load_model("resnet18", "random").module.state_dict()
    wrapped = {"state_dict": {f"module.{k}": v * 2 if v.is_floating_point() else v for k, v in state.items()}}
    torch.save(wrapped, tmp_path / "finetuned.pth")
    loaded = load_model("resnet18", tmp_path / "finetuned.pth")
    assert loaded.weights_id.startswith("file:finetuned.pth:")
    assert torch.equal(loaded.module.conv1.weight, state["conv1.weight"] * 2)


def test_checkpoint_for_another_network_is_a_clear_error(tmp_path):
    torch.save(load_model("alexnet", "random").module.state_dict(), tmp_path / "alex.pth")
    with pytest.raises(ExplorerError, match="does not fit resnet18"):
        load_model("resnet18", tmp_path / "alex.pth")
    (tmp_path / "junk.pth").write_bytes(b"garbage")
    with pytest.raises(ExplorerError, match="junk.pth is not a PyTorch checkpoint"):
        load_model("resnet18", tmp_path / "junk.pth")
    with pytest.raises(ExplorerError, match="not found"):
        load_model("resnet18", tmp_path / "nope.pth")


def test_googlenet_accepts_full_torchvision_checkpoints_with_aux_heads(tmp_path):
    import torchvision

    torch.manual_seed(1)
    full = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True).state_dict()
    assert any(k.startswith("aux1.") for k in full)
    torch.save(full, tmp_path / "g.pth")
    loaded = load_model("googlenet", tmp_path / "g.pth")
    assert loaded.module.aux1 is None
    assert torch.equal(loaded.module.conv1.conv.weight, full["conv1.conv.weight"])


def test_timm_architectures_and_unknown_names():
    m = load_model("timm:resnet10t", "random", image_size=96)
    assert m.name == "timm:resnet10t" and m.preprocess.crop == 96
    with pytest.raises(ExplorerError, match="timm has no architecture"):
        load_model("timm:not_a_net", "random")
    with pytest.raises(ExplorerError, match="Unknown model"):
        load_model("lenet")
