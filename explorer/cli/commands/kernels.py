"""explorer kernels MODEL --out PNG: the first convolution's kernels as an image grid."""

from __future__ import annotations

from ..options import count, output_file, weights


def add_parser(sub) -> None:
    sp = sub.add_parser("kernels", help="save the first convolution's kernels as an image grid")
    sp.add_argument("model")
    sp.add_argument("--weights", default=None)
    sp.add_argument("--out", required=True, metavar="PNG", help="the image file (.png, .jpg, .tif, .webp, ...)")
    sp.add_argument("--pixels", type=count, default=48,
                    help="tile size on screen (kernels are enlarged, not blurred)")
    sp.set_defaults(func=run)


def image_file(path: str):
    """--out: a file Pillow can write, judged by its extension, in a writable place."""
    from pathlib import Path

    from PIL import Image

    from ...core.errors import ExplorerError

    Image.init()
    extension = Path(path).suffix.lower()
    stubs = {"BUFR", "GRIB", "HDF5", "WMF"}  # registered, but writing needs a handler the app never installs
    writable = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE and fmt not in stubs}
    if extension not in writable:
        shown = "no extension" if not extension else f"the extension {extension!r}"
        raise ExplorerError(f"--out {path}: {shown} is not an image format this app can write; "
                            "use .png, .jpg, .tif or .webp.")
    return output_file(path, "--out", example="kernels.png")


def run(args) -> int:
    from pathlib import Path

    from PIL import Image

    from ...core.model.kernels import kernel_grid
    from ...core.model.zoo import load_model

    out = image_file(args.out)  # before the model is loaded
    model = load_model(args.model, weights(args.weights))
    grid = kernel_grid(model.module, pixels=args.pixels)
    existed = Path(out).exists()
    try:
        Image.fromarray(grid.image).save(out)
    except (ValueError, KeyError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the disk or the folder, not the format: the command line reports it
        from ...core.errors import ExplorerError

        if not existed:
            Path(out).unlink(missing_ok=True)  # the start of a file Pillow began to write
        raise ExplorerError(f"--out {args.out}: Pillow cannot write this grid in that format ({exc}); "
                            "use .png, .jpg, .tif or .webp.") from None
    kh, kw = grid.kernel_size
    print(f"{args.out}: {grid.n_kernels} kernels of {kh}x{kw} from {model.name}/{grid.layer} "
          f"({'RGB' if grid.colour else 'grey'}, mid-grey = 0)")
    return 0
