"""The model visualizer: tree data, totals at every level, the page, the server and bad names."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
import torch
from torch import nn

from vbench import register_model
from vbench.cli import main
from vbench.report.viz import module_tree
from vbench.errors import ExitStatus
from vbench.report.viz_html import serve_in_thread, viz_html


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x))


class _Tiny(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.blocks = nn.Sequential(_Block(), _Block())
        self.pool = nn.Sequential(nn.Conv2d(4, 4, 2), nn.AdaptiveAvgPool2d(1))  # needs an input of 2 px or more
        self.head = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.head(self.pool(self.blocks(self.stem(x))).flatten(1))


@register_model(name="viz_tiny_test", family="custom", img_size=16, overwrite=True)
def _viz_tiny(img_size: int, num_classes: int) -> nn.Module:
    return _Tiny(num_classes)


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def test_registered_model_tree_has_shapes_params_gmacs_and_totals():
    tree = module_tree("viz_tiny_test")
    root = tree.root
    assert tree.img_size == 16 and root.type == "_Tiny" and root.out_shape == [1, 1000]
    nodes = {n.name: n for n in _walk(root)}
    assert set(nodes) >= {"", "stem", "blocks", "blocks.0", "blocks.0.conv", "blocks.1.act", "head"}
    assert nodes["blocks.0.conv"].out_shape == [1, 4, 16, 16]
    assert nodes["blocks.0.conv"].params == 4 * 4 * 9 + 4
    assert nodes["blocks.0.conv"].out_bytes == 4 * 16 * 16 * 4
    # conv MACs = out elements x (in_ch x 3 x 3)
    assert nodes["blocks.0.conv"].gmacs == pytest.approx(4 * 16 * 16 * 4 * 9 / 1e9)
    for node in _walk(root):  # totals at every level are the sum of the level below
        if node.children:
            assert node.params == node.own_params + sum(c.params for c in node.children)
            assert node.gmacs == pytest.approx(sum(c.gmacs for c in node.children), rel=1e-6, abs=1e-12)
            assert node.act_bytes == sum(c.act_bytes for c in node.children)
    assert root.params == sum(p.numel() for p in _Tiny(1000).parameters())
    assert tree.count() == len(nodes)


def test_timm_model_tree_matches_the_flop_counter():
    from vbench.metrics.flops import count_flops
    from vbench.models import create_model

    tree = module_tree("resnet18", img_size=32)
    nodes = {n.name: n for n in _walk(tree.root)}
    assert nodes["fc"].out_shape == [1, 1000]
    assert nodes["layer1.0.conv1"].out_shape == [1, 64, 8, 8]
    assert tree.root.params == 11_689_512  # timm's published resnet18 size
    expected = count_flops(create_model("resnet18", img_size=32), torch.randn(1, 3, 32, 32)).gmacs
    assert tree.root.gmacs == pytest.approx(expected)


def test_page_embeds_the_tree_and_needs_no_network():
    page = viz_html(module_tree("viz_tiny_test"))
    assert '<script id="data" type="application/json">' in page and '"blocks.0.conv"' in page
    assert "http://" not in page and "https://" not in page
    assert 'id="search"' in page


def test_server_binds_localhost_only():
    server, url = serve_in_thread("<html><body>hello</body></html>")
    try:
        assert server.server_address[0] == "127.0.0.1" and url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200 and b"hello" in resp.read()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url + "other", timeout=10)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("port, message", [
    (99999, "--port 99999: a port is 0-65535"),
    ("busy", "cannot listen on 127.0.0.1:{port} (Address already in use); try another port or --port 0"),
])
def test_serve_on_a_bad_or_busy_port_is_one_line(tmp_path, capsys, port, message):
    busy, _ = serve_in_thread("<html></html>")  # a real listener holding a port
    try:
        number = busy.server_address[1] if port == "busy" else port
        status = main(["viz", "viz_tiny_test", "--img-size", "8", "--out", str(tmp_path / "t.html"), "--serve",
                       "--port", str(number)])
        err = capsys.readouterr().err
        assert status == ExitStatus.USAGE_ERROR and message.format(port=number) in err, err
        assert len(err.strip().splitlines()) == 1 and (tmp_path / "t.html").exists()  # the page is still written
    finally:
        busy.shutdown()
        busy.server_close()


def test_cli_writes_the_page(tmp_path, capsys):
    out = tmp_path / "tiny.html"
    assert main(["viz", "viz_tiny_test", "--img-size", "8", "--out", str(out)]) == 0
    assert "modules" in capsys.readouterr().out
    assert '"img_size":8' in out.read_text()


@pytest.mark.parametrize("argv, message", [
    (["viz", "resnet181"], "unknown model 'resnet181'; did you mean resnet18"),
    (["viz", "resnet18", "--img-size", "0"], "--img-size must be a positive integer"),
    (["viz", "viz_tiny_test", "--img-size", "1"], "viz_tiny_test cannot run at 1px: RuntimeError: Calculated padded"),
])
def test_cli_bad_input_is_one_line(capsys, argv, message):
    assert main(argv) == ExitStatus.USAGE_ERROR
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
