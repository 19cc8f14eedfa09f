"""One traced graph per model: extractors that own their weights, several outputs in one pass,
gradients, and forward passes of different jobs that run at the same time."""

import copy
import sys

import pytest
import torch
import torchvision
from torchvision.models.feature_extraction import create_feature_extractor

from explorer.core.model.layers import make_extractor


def resnet18():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so folding them changes the weights
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
    return model


def reference(model, layer, x):
    """torchvision's own extractor on a private copy of the model: an independent computation."""
    return create_feature_extractor(copy.deepcopy(model), {layer: "o"})(x)["o"]


def tensors(module):
    return list(module.parameters()) + list(module.buffers())


def test_moving_an_extractor_leaves_the_model_and_the_next_extractor_alone():
    """The app's CUDA bug, with `meta` standing in for the GPU: moving extractor 1 moved batch norms
    inside the model, and extractor 2 on the same model then fused a CPU conv with a 'CUDA' BN."""
    model = resnet18()
    x = torch.randn(2, 3, 96, 96)
    first = make_extractor(model, "layer2.1.add").to("meta")
    assert all(t.device.type == "meta" for t in tensors(first))
    assert all(t.device.type == "cpu" for t in tensors(model)), "moving the extractor moved the model"
    model_ids = {id(t) for t in tensors(model)} | {id(m) for m in model.modules()}
    assert not model_ids & ({id(t) for t in tensors(first)} | {id(m) for m in first.modules()})

    second = make_extractor(model, "layer3.1.add")
    assert not model_ids & ({id(t) for t in tensors(second)} | {id(m) for m in second.modules()})
    out = second(x)
    out = out["layer3.1.add"] if isinstance(out, dict) else out
    assert out.device.type == "cpu"
    torch.testing.assert_close(out, reference(model, "layer3.1.add", x), rtol=1e-4, atol=1e-4)


def test_a_loaded_model_is_traced_once_and_its_extractors_own_their_weights(monkeypatch):
    from explorer.core.model import graph as graph_module
    from explorer.core.model.graph import model_graph
    from explorer.core.model.zoo import load_model

    loaded = load_model("resnet18", "random", image_size=96)
    traces = []
    real = graph_module._trace
    monkeypatch.setattr(graph_module, "_trace", lambda m: traces.append(m) or real(m))
    graph = model_graph(loaded)
    assert model_graph(loaded) is graph and len(traces) == 1 and graph.traced and graph.trace_error is None
    model = loaded.module
    model_ids = {id(t) for t in tensors(model)} | {id(m) for m in model.modules()}
    x = torch.randn(2, 3, 96, 96)
    for layers in (["layer2.1.add"], ["layer1.0.bn1", "fc"]):
        ext = graph.extractor(layers, logits=True).to("meta")
        assert all(t.device.type == "meta" for t in tensors(ext))
        assert not model_ids & ({id(t) for t in tensors(ext)} | {id(m) for m in ext.modules()})
    assert all(t.device.type == "cpu" for t in tensors(model))
    out = graph.extractor(["layer3.1.add"])(x)["layer3.1.add"]
    torch.testing.assert_close(out, reference(model, "layer3.1.add", x), rtol=1e-4, atol=1e-4)
    assert len(traces) == 1  # extractors are cut from the one graph: no second trace
    loaded.preprocess = loaded.preprocess.with_image_size(64)  # another input size: shapes change
    assert model_graph(loaded).input_size == 64 and len(traces) == 2


def test_one_pass_returns_several_layers_and_the_logits_with_their_own_values():
    """ReLU(inplace=True) after a residual add must not overwrite the returned add."""
    model = resnet18()
    from explorer.core.model.graph import ModelGraph

    graph = ModelGraph.build(model, 96)
    layers = ["layer1.0.add", "layer2.0.bn1", "layer3.0.conv2", "layer4.1.relu_1"]
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        expected = {layer: reference(model, layer, x) for layer in layers}
        expected["logits"] = copy.deepcopy(model)(x)
    for fold_bn in (True, False):
        ext = graph.extractor(layers, logits=True, fold_bn=fold_bn)
        with torch.inference_mode():
            out = ext(x)
        assert list(out) == layers + ["logits"]
        for key, value in expected.items():
            torch.testing.assert_close(out[key], value, rtol=1e-4, atol=1e-4 * value.abs().max().item())
    bns = lambda m: sum(isinstance(k, torch.nn.BatchNorm2d) for k in m.modules())  # noqa: E731
    # every BN folds except layer3.0.bn2, whose conv is itself returned
    assert bns(graph.extractor(layers, logits=True)) == 1 and bns(graph.extractor(layers, fold_bn=False)) == 20
    pruned = graph.extractor(["layer1.0.add"])
    assert not hasattr(pruned.graph_module, "layer2") and not hasattr(pruned.graph_module, "fc")


def test_gradients_match_forward_hooks_on_the_original_model():
    """Grad-CAM's ingredients, computed independently with hooks on a copy of the model."""
    from explorer.core.model.graph import ModelGraph

    model = resnet18()
    graph = ModelGraph.build(model, 96)
    x = torch.randn(2, 3, 96, 96)
    c = 7
    ours = graph.gradient_model(["layer2.1.relu_1", "layer4.1.relu_1"])
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in ours.modules()) == 20  # unfolded
    out = ours(x)
    grads = torch.autograd.grad(out["logits"][:, c].sum(), [out["layer2.1.relu_1"], out["layer4.1.relu_1"]])

    hooked = copy.deepcopy(model)
    acts = {}
    hooked.layer2[1].register_forward_hook(lambda _m, _i, o: acts.__setitem__("l2", o))
    hooked.layer4[1].register_forward_hook(lambda _m, _i, o: acts.__setitem__("l4", o))
    logits = hooked(x)
    expected = torch.autograd.grad(logits[:, c].sum(), [acts["l2"], acts["l4"]])
    torch.testing.assert_close(out["logits"], logits, rtol=1e-4, atol=1e-4)
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-5 * e.abs().max().item())
    weights = grads[1].mean((2, 3))  # Grad-CAM: channel weights = spatially averaged gradients
    assert torch.isfinite(weights).all() and (weights != 0).any()
    assert all(p.grad is None for p in model.parameters())  # the model saw none of it
    with torch.inference_mode(), pytest.raises(RuntimeError, match="needs autograd"):
        ours(x)


_GATE = None  # what `rendezvous` waits on inside a forward pass (None: nothing)


@torch.fx.wrap
def rendezvous(x):
    if _GATE is not None:
        _GATE.wait(timeout=10)
    return x


class Gated(torch.nn.Module):
    """A tiny model whose forward pass waits at a gate (a leaf function for fx)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.bn = torch.nn.BatchNorm2d(8)
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        x = rendezvous(torch.relu(self.bn(self.conv(x))))
        return self.head(x.mean((2, 3)))


def test_forward_passes_of_two_jobs_run_at_the_same_time(monkeypatch):
    """Both forwards must be inside the network at once to pass the barrier; one global lock
    around forward passes would break it (BrokenBarrierError)."""
    import threading

    from explorer.core.model.graph import ModelGraph

    torch.manual_seed(0)
    model = Gated().eval()
    graph = ModelGraph.build(model, 16)
    jobs = {"a": graph.extractor(["rendezvous"]), "b": graph.extractor([], logits=True)}
    x = torch.randn(2, 3, 16, 16)
    monkeypatch.setattr(sys.modules[__name__], "_GATE", threading.Barrier(2))
    results, errors = {}, []

    def run(key):
        try:
            with torch.inference_mode():
                results[key] = jobs[key](x)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    monkeypatch.setattr(sys.modules[__name__], "_GATE", None)
    with torch.no_grad():
        torch.testing.assert_close(results["a"]["rendezvous"], torch.relu(model.bn(model.conv(x))))
        torch.testing.assert_close(results["b"]["logits"], model(x))


def test_a_trace_waits_for_running_forward_passes(monkeypatch):
    """torch.fx patches Module.__call__ for the whole process while tracing: the graph keeps
    traces and forward passes apart by itself."""
    import threading

    from explorer.core.model.graph import ModelGraph

    torch.manual_seed(0)
    model = Gated().eval()
    ext = ModelGraph.build(model, 16).extractor([], logits=True)
    gate = threading.Event()
    monkeypatch.setattr(sys.modules[__name__], "_GATE", gate)
    x = torch.randn(1, 3, 16, 16)
    out, built = {}, {}
    forward = threading.Thread(target=lambda: out.setdefault("logits", ext(x)["logits"]))
    forward.start()
    tracing = threading.Thread(target=lambda: built.setdefault("g", ModelGraph.build(resnet18(), 64)))
    tracing.start()
    tracing.join(1.0)
    assert tracing.is_alive() and not built  # waiting for the forward pass to leave the network
    gate.set()
    forward.join(20), tracing.join(60)
    assert built["g"].traced and built["g"].default == "layer4.1.relu_1"
    with torch.no_grad():
        torch.testing.assert_close(out["logits"], model(x))


class Dynamic(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):
        x = self.bn(self.conv(x))
        if x.sum() > 0:  # data-dependent control flow: fx cannot trace this
            x = x * 2
        return self.head(x.mean((2, 3)))


def test_an_untraceable_model_keeps_the_reason_and_still_gives_extractors():
    from explorer.core.model.graph import ModelGraph

    model = Dynamic().eval()
    graph = ModelGraph.build(model, 32)
    assert not graph.traced and "TraceError" in graph.trace_error and "control flow" in graph.trace_error
    assert graph["conv"].shape == (4, 30, 30) and graph["conv"].receptive_field is None
    x = torch.randn(2, 3, 32, 32)
    ext = graph.extractor(["conv", "bn"], logits=True).to("meta")
    assert all(t.device.type == "cpu" for t in tensors(model))
    ext = graph.extractor(["conv", "bn"], logits=True)
    with torch.no_grad():
        out = ext(x)
        torch.testing.assert_close(out["conv"], model.conv(x))
        torch.testing.assert_close(out["bn"], model.bn(model.conv(x)))
        torch.testing.assert_close(out["logits"], model(x))
    grad = graph.gradient_model(["bn"])(x)
    (g,) = torch.autograd.grad(grad["logits"][:, 0].sum(), grad["bn"])
    assert torch.isfinite(g).all() and (g != 0).any()


def test_cli_layers_says_why_receptive_fields_are_missing(monkeypatch, capsys):
    import importlib

    from explorer.core.model import zoo

    main = importlib.import_module("explorer.cli.main")  # the module (the package exports the function)

    real = zoo.load_model

    def fake(name, weights=None, **kw):
        loaded = real("resnet18", "random", image_size=32)
        loaded.module = Dynamic().eval()
        return loaded

    monkeypatch.setattr(zoo, "load_model", fake)
    assert main.main(["layers", "dynamic", "--weights", "random", "--image-size", "32"]) == 0
    text = capsys.readouterr().out
    assert "could not be traced" in text and "control flow" in text
    # the hooked layers are still listed, in the table's columns (mark, name, shape, receptive field, stride),
    # with no receptive field or stride
    rows = {line[2:].split()[0]: line[2:].split()[1:] for line in text.splitlines() if line[:2] in ("  ", "* ")}
    assert rows["conv"][1:] == ["-", "-"] and rows["bn"][1:] == ["-", "-"] and text.count("\n* ") == 1
    assert main.main(["layers", "dynamic", "--weights", "random", "--image-size", "32", "--json"]) == 0
    captured = capsys.readouterr()
    assert "could not be traced" in captured.err and __import__("json").loads(captured.out)[0]["name"] == "conv"


def test_a_pickled_model_traces_again_and_extracts():
    """Ray sends models to its workers pickled; the graph kept on the model must not travel with it."""
    import pickle

    import torch

    from explorer.core.model.graph import model_graph
    from explorer.core.model.zoo import load_model

    model = load_model("resnet18", "random", image_size=64)
    layer = model_graph(model).resolve("layer3.1.add")
    copy = pickle.loads(pickle.dumps(model))
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        want = model_graph(model).extractor([layer])(x)[layer]
        got = model_graph(copy).extractor([layer])(x)[layer]
    assert torch.allclose(got, want)
