"""Every CUDA path of the explorer in one script (< 8 minutes on one GPU), with figures.

    tests/gpu/check.sh                 # on a GPU machine; exits 1 if any check fails
    tests/gpu/check.sh --device cpu    # dry run of the same logic on the CPU (no OOM check)

Not part of the test suite (the suite stays CPU-only; pytest does not collect this file).
Checks:
  amp          embedding with AMP + channels-last vs fp32 features on the CPU: cosine > 0.999
  switching    layers and models switched in one process: the model never leaves the CPU, every
               extractor gives the fp32 values (the shared-module bug of issue 9, on real CUDA)
  overlay      an activation map computed on the GPU equals the CPU one, laid over the photo
  oom          fill the GPU until allocation fails, then embed: the batch halves and the run completes
  predictions  the top-5 kept under AMP agree with fp32 logits on the CPU (top-1 >= 90%, probability < 0.05)
  explain      Grad-CAM, guided backprop, integrated gradients and occlusion on the GPU equal the CPU's
  finetune     a head trained on the GPU (last block unfrozen) loads back with its class names
  featurevis   64 steps of class visualisation on the device: the time, and the logit rises
  decode       JPEGs decoded on the GPU give the CPU-decoded rows, failures and features (cosine > 0.999)
  bench        tests/benchmarks/bench_embedding.py --device cuda --decode cpu gpu
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))

COSINE_MIN = 0.999


class Failed(Exception):
    pass


def expect(ok: bool, message: str) -> None:
    if not ok:
        raise Failed(message)


# --- helpers ---------------------------------------------------------------------------------------

def photos(root: Path, n: int) -> Path:
    from bench_embedding import make_photos

    if not root.exists():
        make_photos(root, n)
    return root


def embed(folder: Path, model, layer: str, out: Path, device: str, batch_size: int, workers: int | None = None,
          decode: str = "cpu"):
    """embed_dataset driven to the end: (EmbedResult, step labels, images/s).

    JPEGs are decoded on the CPU unless asked: these checks compare the GPU's arithmetic with the CPU's,
    and nvJPEG's pixels differ from Pillow's (check_decode measures by how much)."""
    from explorer.core.data.datasets import open_dataset
    from explorer.core.engine.embedding import embed_dataset

    work = embed_dataset(open_dataset(folder), model, layer, out=out, device=device,
                         batch_size=batch_size, workers=workers, overwrite=True, decode=decode)
    labels, t = [], time.perf_counter()
    while True:
        try:
            labels.append(next(work).label)
        except StopIteration as stop:
            result = stop.value
            break
    return result, labels, result.computed / max(time.perf_counter() - t, 1e-9)


def cpu_features(model, layer: str, folder: Path, rows: int) -> "np.ndarray":
    """fp32, unfolded, contiguous, on the CPU: the reference features of the first `rows` images."""
    import torch

    from explorer.core.data.datasets import open_dataset
    from explorer.core.engine.embedding import summarise
    from explorer.core.model.graph import model_graph

    dataset = open_dataset(folder)
    ext = model_graph(model).extractor([layer], fold_bn=False)
    x = torch.stack([model.preprocess(dataset.load(i)[0]) for i in range(rows)])
    with torch.inference_mode():
        return summarise(ext(x)[layer])[0]


def cosines(a, b) -> "np.ndarray":
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def on_cpu(module) -> bool:
    return all(t.device.type == "cpu" for t in list(module.parameters()) + list(module.buffers()))


# --- checks ----------------------------------------------------------------------------------------

def check_amp(ctx) -> list[str]:
    import numpy as np

    from explorer.core.model.graph import model_graph
    from explorer.core.model.zoo import load_model

    lines = []
    for name, weights, layer in [("efficientnet_lite0", None, None), ("resnet50", "random", "layer4.2.relu_2")]:
        model = load_model(name, weights)
        layer = layer or model_graph(model).default
        result, _, rate = embed(ctx.folder, model, layer, ctx.tmp / f"amp-{name}", ctx.device, 64)
        expect(result.run.complete, f"{name}: the run did not complete")
        ours = np.asarray(result.run.features[:ctx.ref_rows], np.float32)
        cos = cosines(ours, cpu_features(model, layer, ctx.folder, ctx.ref_rows))
        lines.append(f"{name} {layer}: {result.computed} images at {rate:,.0f} images/s; cosine vs fp32 CPU "
                     f"min {cos.min():.5f}, mean {cos.mean():.5f}")
        expect(cos.min() > COSINE_MIN, f"{name}: cosine {cos.min():.5f} <= {COSINE_MIN}")
        expect(on_cpu(model.module), f"{name}: the model left the CPU")
    return lines


def check_switching(ctx) -> list[str]:
    import numpy as np
    import torch
    from PIL import Image

    from explorer.core.model.graph import model_graph
    from explorer.core.model.zoo import load_model

    lines = []
    resnet = load_model("resnet18", "random")
    lite = load_model("efficientnet_lite0")
    x = torch.stack([resnet.preprocess(Image.open(p).convert("RGB")) for p in sorted(ctx.folder.rglob("*.jpg"))[:8]])
    plan = [(resnet, "layer3.1.add"), (resnet, "layer4.1.relu_1"), (lite, "blocks.5.0.bn2"),
            (resnet, "layer2.0.bn2"), (lite, model_graph(lite).default), (resnet, "layer1.1.add")]
    for i, (model, layer) in enumerate(plan):
        graph = model_graph(model)
        # an extractor on the device, next to the ones before it: the bug fused a CPU conv with a GPU BN
        ext = graph.extractor([layer]).to(ctx.device)
        with torch.inference_mode():
            got = ext(x.to(ctx.device))[layer].float().cpu()
            want = graph.extractor([layer], fold_bn=False)(x)[layer]
        cos = cosines(got.flatten(1).numpy(), want.flatten(1).numpy()).min()
        expect(on_cpu(model.module), f"step {i}: {model.name} left the CPU after {layer}")
        expect(cos > 0.9999, f"step {i}: {model.name} {layer} cosine {cos:.6f}")
        lines.append(f"{i}: {model.name} {layer}: cosine {cos:.6f}, model on the CPU")
        if i in (0, 2):  # a whole embedding in between, as the app does when the layer changes
            result, _, rate = embed(ctx.folder, model, layer, ctx.tmp / f"switch-{i}", ctx.device, 64)
            expect(result.run.complete, f"step {i}: embedding did not complete")
            ref = cpu_features(model, layer, ctx.folder, 8)
            c = cosines(np.asarray(result.run.features[:8], np.float32), ref).min()
            expect(c > COSINE_MIN, f"step {i}: embedding cosine {c:.5f}")
            lines.append(f"   then embedded {result.computed} images at {rate:,.0f} images/s, cosine {c:.5f}")
    return lines


def check_overlay(ctx) -> list[str]:
    import numpy as np
    from PIL import Image

    from explorer.core.analysis.activation import layer_output, overlay
    from explorer.core.model.graph import model_graph
    from explorer.core.model.zoo import load_model

    model = load_model("resnet18", "random")
    graph = model_graph(model)
    layer = "layer3.1.add"
    image = Image.open(sorted(ctx.folder.rglob("*.jpg"))[0]).convert("RGB")
    t = time.perf_counter()
    ext = graph.extractor([layer]).to(ctx.device)
    maps = layer_output(ext, model.preprocess, image, layer)
    ms = (time.perf_counter() - t) * 1e3
    reference = layer_output(graph.extractor([layer], fold_bn=False), model.preprocess, image, layer)
    c = int(np.argmax(reference.reshape(len(reference), -1).max(1)))
    rel = np.abs(maps - reference).max() / np.abs(reference).max()
    a, b = np.asarray(overlay(image, maps[c], model.preprocess), np.int16), \
        np.asarray(overlay(image, reference[c], model.preprocess), np.int16)
    expect(rel < 1e-2, f"map differs from the CPU by {rel:.2e} (relative)")
    expect(a.shape == b.shape == (image.height, image.width, 3), f"overlay shape {a.shape}")
    expect(np.abs(a - b).max() <= 3, f"overlay pixels differ by {np.abs(a - b).max()}")
    expect(on_cpu(model.module), "the model left the CPU")
    return [f"{layer} channel {c}: map on {ctx.device} in {ms:.0f} ms (extractor included), max relative "
            f"difference to the CPU {rel:.1e}; overlay {image.width}x{image.height}, pixels within "
            f"{np.abs(a - b).max()} grey levels"]


def check_oom(ctx) -> list[str]:
    import numpy as np
    import torch

    from explorer.core.model.zoo import load_model

    if ctx.device == "cpu":
        return ["skipped: needs a CUDA device (the halving logic itself is in tests/core/test_recovery.py)"]
    model = load_model("resnet50", "random")
    free0, total = torch.cuda.mem_get_info()
    hog, chunk = [], 1 << 30
    while chunk >= 16 << 20:  # fill the GPU until allocation fails, in ever smaller pieces
        try:
            hog.append(torch.empty(chunk, dtype=torch.uint8, device="cuda"))
        except torch.OutOfMemoryError:
            chunk //= 4
    held = sum(h.numel() for h in hog)
    # what is given back: room for the model and small batches, not for 256 images (ResNet-50's layer1
    # output alone is 411 MB at batch 256 in float16; 1.5 GiB fitted the whole batch on an H200)
    budget = 768 << 20
    while hog and torch.cuda.mem_get_info()[0] < budget:
        hog.pop()
        torch.cuda.empty_cache()
    lines = [f"GPU {total / 2**30:.1f} GiB, {free0 / 2**30:.1f} GiB free; held {held / 2**30:.1f} GiB until "
             f"allocation failed, gave back to {torch.cuda.mem_get_info()[0] / 2**20:,.0f} MiB free"]
    try:
        result, labels, rate = embed(ctx.folder, model, "layer4.2.relu_2", ctx.tmp / "oom", "cuda", 256, workers=4)
    finally:
        hog.clear()
        torch.cuda.empty_cache()
    halved = [l for l in labels if "out of memory" in l]
    lines.append(f"batch 256 requested; {len(halved)} steps reported: {halved[-1] if halved else 'no OOM'}; "
                 f"{result.computed} images at {rate:,.0f} images/s")
    expect(result.run.complete, "the run did not complete")
    expect(any("batch" in l for l in halved), "no halving reported: the budget fitted a whole batch")
    cos = cosines(np.asarray(result.run.features[:ctx.ref_rows], np.float32),
                  cpu_features(model, "layer4.2.relu_2", ctx.folder, ctx.ref_rows)).min()
    expect(cos > COSINE_MIN, f"cosine after halving {cos:.5f}")
    lines.append(f"features after halving: cosine vs fp32 CPU min {cos:.5f}")
    return lines


def check_bench(ctx) -> list[str]:
    extra = (["--images", "2048", "--decode", "cpu", "gpu"] if ctx.device != "cpu"
             else ["--images", "64", "--batch-size", "16"])
    cmd = [sys.executable, str(ROOT / "tests" / "benchmarks" / "bench_embedding.py"), "--device", ctx.device, *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    expect(proc.returncode == 0, f"bench_embedding.py exited {proc.returncode}: {proc.stderr[-2000:]}")
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    expect(any(l.startswith("ratio") for l in lines), "bench_embedding.py printed no ratio")
    return lines


def check_decode(ctx) -> list[str]:
    """JPEGs decoded on the GPU (issue 16): the same rows and failures as the CPU's, features within 0.999."""
    import numpy as np

    from explorer.core.data.datasets import open_dataset
    from explorer.core.engine import gpu_jpeg
    from explorer.core.model.zoo import load_model
    from tests.core.test_gpu_jpeg import make_mixed

    if not gpu_jpeg.available(__import__("torch").device(ctx.device)):
        return ["skipped: needs a CUDA device (tests/core/test_gpu_jpeg.py runs the same path on the CPU)"]
    folder = make_mixed(ctx.tmp / "mixed")
    model = load_model("resnet18", "random")
    runs = {}
    for decode in ("cpu", "gpu"):
        from explorer.core.engine.embedding import embed_dataset
        from explorer.core.progress import run_to_end

        runs[decode] = run_to_end(embed_dataset(open_dataset(folder), model, "layer3.1.add", out=ctx.tmp / decode,
                                                device=ctx.device, decode=decode, batch_size=4, workers=2)).run
    cpu, gpu = runs["cpu"], runs["gpu"]
    statuses = [cpu.status(i) for i in range(len(cpu))]
    expect([gpu.status(i) for i in range(len(gpu))] == statuses,
           f"statuses differ: {[gpu.status(i) for i in range(len(gpu))]} vs {statuses}")
    ok = np.asarray(cpu.state) == 1
    c = cosines(np.asarray(cpu.features, np.float32)[ok], np.asarray(gpu.features, np.float32)[ok])
    expect(c.min() > COSINE_MIN, f"GPU-decoded features: cosine {c.min():.5f}")
    failed = sorted(r.path for r, s in zip(cpu.rows, statuses) if s[0] != "ok")
    lines = [f"{len(cpu)} files: GPU-decoded features cosine to CPU-decoded min {c.min():.5f}; the same failures "
             f"({', '.join(failed)}); manifest decode {gpu.manifest.get('decode')}"]
    lite = load_model("efficientnet_lite0")  # real photos through a real network: how far nvJPEG's pixels move it
    feats = {}
    for decode in ("cpu", "gpu"):
        result, _, rate = embed(ctx.folder, lite, None, ctx.tmp / f"lite-{decode}", ctx.device, 64, decode=decode)
        feats[decode] = np.asarray(result.run.features, np.float32)
        lines.append(f"efficientnet_lite0, {decode} decode: {result.computed} images at {rate:,.0f} images/s")
    c = cosines(feats["cpu"], feats["gpu"])
    lines.append(f"efficientnet_lite0 bn2 on {len(c)} photos: GPU- vs CPU-decoded cosine min {c.min():.5f}, "
                 f"mean {c.mean():.5f}")
    expect(c.min() > 0.99, f"GPU-decoded photos: cosine {c.min():.5f} to the CPU-decoded")
    return lines


def check_predictions(ctx) -> list[str]:
    """The top-5 kept in the run under AMP agree with fp32 logits on the CPU (issue 12, predictions)."""
    import numpy as np
    import torch

    from explorer.core.data.datasets import open_dataset
    from explorer.core.model.graph import model_graph
    from explorer.core.model.zoo import load_model

    model = load_model("efficientnet_lite0")
    result, _, rate = embed(ctx.folder, model, None, ctx.tmp / "predictions", ctx.device, 64)
    run, rows = result.run, ctx.ref_rows
    dataset = open_dataset(ctx.folder)
    x = torch.stack([model.preprocess(dataset.load(i)[0]) for i in range(rows)])
    with torch.inference_mode():
        p = model_graph(model).extractor([], logits=True, fold_bn=False)(x)["logits"].float().softmax(1).numpy()
    ours, probs = np.asarray(run.array("top5_classes")[:rows]), np.asarray(run.array("top5_probabilities")[:rows])
    agree = float((ours[:, 0] == p.argmax(1)).mean())
    gap = float(np.abs(probs[:, 0] - p.max(1)).max())
    expect(agree >= 0.9, f"top-1 agrees with fp32 CPU on only {agree:.0%} of {rows} images")
    expect(gap < 0.05, f"top-1 probability differs from fp32 CPU by up to {gap:.3f}")
    return [f"{result.computed} images at {rate:,.0f} images/s with predictions; top-1 = fp32 CPU on {agree:.0%} "
            f"of {rows}, top-1 probability within {gap:.4f}"]


def check_explain(ctx) -> list[str]:
    """Attribution maps on the GPU equal the CPU's (issue 11), and Grad-CAM's time on each."""
    import numpy as np

    from explorer.core.analysis.attribution import Explainer, Options, explain
    from explorer.core.data.datasets import open_dataset
    from explorer.core.model.zoo import load_model
    from explorer.core.progress import run_to_end

    model = load_model("efficientnet_lite0")
    image = open_dataset(ctx.folder).load(0)[0]
    lines = []
    for method in ("gradcam", "guided-backprop", "integrated-gradients", "occlusion"):
        maps, times = {}, {}
        for device in ("cpu", ctx.device):
            e = Explainer(model, device=device)
            x = e.inputs(image)
            run_to_end(explain(e, x, method, Options(steps=8)))  # the cut, warm-up
            t = time.perf_counter()
            maps[device] = run_to_end(explain(e, x, method, Options(steps=8))).map
            times[device] = time.perf_counter() - t
        a, b = maps["cpu"].ravel(), maps[ctx.device].ravel()
        cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))
        expect(cos > 0.999, f"{method}: the {ctx.device} map differs from the CPU's (cosine {cos:.5f})")
        lines.append(f"{method}: cosine to CPU {cos:.6f}; {times['cpu']:.3f} s CPU, {times[ctx.device]:.3f} s "
                     f"{ctx.device}")
    return lines


def check_finetune(ctx) -> list[str]:
    """A head trained on the GPU (last block unfrozen) loads with --weights and predicts as reported (issue 12)."""
    import torch

    from explorer.core.data.datasets import open_dataset
    from explorer.core.engine.finetune import FinetuneConfig, finetune
    from explorer.core.model.zoo import load_model
    from explorer.core.progress import run_to_end

    model = load_model("resnet18", "random")
    out = ctx.tmp / "finetuned.pt"
    t = time.perf_counter()
    result = run_to_end(finetune(open_dataset(ctx.folder), model, out=out,
                                 config=FinetuneConfig(epochs=3, unfreeze=1, device=ctx.device)))
    seconds = time.perf_counter() - t
    loaded = load_model("resnet18", str(out))
    expect(loaded.categories == result.classes, "the checkpoint's class names did not come back")
    expect(not any(p.is_cuda for p in loaded.module.parameters()), "a loaded checkpoint is not on the CPU")
    return [f"{len(result.epochs)} epochs on {result.n_train} images in {seconds:.1f} s "
            f"(epoch median {sorted(e.seconds for e in result.epochs)[len(result.epochs) // 2]:.2f} s); "
            f"validation accuracy {result.val_accuracy:.3f}; torch {torch.__version__}"]


def check_featurevis(ctx) -> list[str]:
    """Feature visualisation steps on the GPU (issue 14): time for 64 steps at 224 px, objective rises."""
    from explorer.core.analysis.featurevis import Objective, Settings, visualise
    from explorer.core.model.zoo import load_model
    from explorer.core.progress import run_to_end

    model = load_model("efficientnet_lite0")
    t = time.perf_counter()
    result = run_to_end(visualise(model, Objective("class", 1), Settings(steps=64), cache=False, device=ctx.device))
    seconds = time.perf_counter() - t
    expect(result.objective_end > result.objective_start + 1, "the goldfish logit did not rise")
    return [f"64 steps in {seconds:.1f} s; goldfish logit {result.objective_start:.2f} -> {result.objective_end:.2f}"]


CHECKS = {"amp": check_amp, "switching": check_switching, "overlay": check_overlay, "oom": check_oom,
          "predictions": check_predictions, "explain": check_explain, "finetune": check_finetune,
          "featurevis": check_featurevis, "decode": check_decode, "bench": check_bench}


class Context:
    def __init__(self, device: str, tmp: Path, images: int):
        self.device = device
        self.tmp = tmp
        self.folder = photos(tmp / "photos", images)
        self.ref_rows = min(32, images)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu for a dry run of the logic")
    p.add_argument("--only", nargs="*", choices=sorted(CHECKS), help="run only these checks")
    p.add_argument("--images", type=int, default=None, help="photos to embed (default 512 on a GPU, 48 on a CPU)")
    args = p.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"no CUDA device (torch {torch.__version__}, CUDA build {torch.version.cuda}): "
              "skipping the GPU checks. Run with --device cpu for a dry run of their logic.")
        return 0
    start = time.perf_counter()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"GPU checks on {args.device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(args.device, Path(tmp), args.images or (512 if args.device != "cpu" else 48))
        for key in args.only or list(CHECKS):
            t = time.perf_counter()
            try:
                lines, status = CHECKS[key](ctx), "ok"
            except Failed as exc:
                lines, status = [str(exc)], "FAILED"
            except Exception:  # a crash is a failed check too, with its traceback
                lines, status = traceback.format_exc().rstrip().splitlines(), "FAILED"
            if status != "ok":
                failed.append(key)
            print(f"[{status}] {key} ({time.perf_counter() - t:.1f} s)")
            for line in lines:
                print(f"    {line}")
            sys.stdout.flush()
    total = time.perf_counter() - start
    print(f"{len(failed)} of {len(args.only or CHECKS)} checks failed{': ' + ', '.join(failed) if failed else ''}; "
          f"{total:.0f} s in all" + (" (over the 8-minute budget)" if total > 480 else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
