"""Block names as layers in the CLI (issue 10): `--layer layer3` embeds the block's output node."""

import json

from explorer.cli.main import main
from explorer.core.run.store import load_run


def test_embed_with_a_block_name_uses_its_output_node(capsys, photo_folder, tmp_path):
    out = tmp_path / "run"
    assert main(["embed", str(photo_folder), "--model", "resnet18", "--weights", "random", "--layer", "layer3",
                 "--out", str(out)]) == 0
    run = load_run(out)
    assert run.layer == "layer3.1.relu_1" and run.layer_shape() == (256, 14, 14)
    progress = capsys.readouterr().err  # the progress line names the node embedded, not the block asked for
    assert "embedding resnet18/layer3.1.relu_1" in progress and "resnet18/layer3:" not in progress
    # the same run whether the block or its output node is named
    assert main(["embed", str(photo_folder), "--model", "resnet18", "--weights", "random", "--layer",
                 "layer3.1.relu_1", "--out", str(out)]) == 0
    assert load_run(out).key == run.key


def test_layers_marks_the_recommended_layer_and_hides_pass_through_nodes(capsys):
    assert main(["layers", "efficientnet_lite0", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    names = [l["name"] for l in shown]
    assert "blocks.5.2.aa" not in names and "blocks.5.2.drop_path" not in names and "blocks.5.2.bn2" in names
    assert [l["name"] for l in shown if l.get("recommended")] == ["bn2"]
    assert main(["layers", "efficientnet_lite0", "--json", "--all"]) == 0
    every = json.loads(capsys.readouterr().out)
    assert {"name": "blocks.5.2.aa", "shape": [1152, 7, 7], "receptive_field": 659, "stride": 32,
            "passthrough": True} in every
    assert main(["layers", "googlenet", "--weights", "random", "--blocks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split() == ["inception4e", "inception4e.cat"] for line in lines)
