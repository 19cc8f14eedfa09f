"""explorer kernels MODEL --out PNG: the first convolution's kernels as an image grid."""

from __future__ import annotations

from ..options import weights


def add_parser(sub) -> None:
    sp = sub.add_parser("kernels", help="save the first convolution's kernels as an image grid")
    sp.add_argument("model")
    sp.add_argument("--weights", default=None)
    sp.add_argument("--out", required=True, metavar="PNG")
    sp.add_argument("--pixels", type=int, default=48, help="tile size on screen (kernels are enlarged, not blurred)")
    sp.set_defaults(func=run)


def run(args) -> int:
    from PIL import Image

    from ...core.model.kernels import kernel_grid
    from ...core.model.zoo import load_model

    model = load_model(args.model, weights(args.weights))
    grid = kernel_grid(model.module, pixels=args.pixels)
    Image.fromarray(grid.image).save(args.out)
    kh, kw = grid.kernel_size
    print(f"{args.out}: {grid.n_kernels} kernels of {kh}x{kw} from {model.name}/{grid.layer} "
          f"({'RGB' if grid.colour else 'grey'}, mid-grey = 0)")
    return 0
