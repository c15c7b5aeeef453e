"""The visualizer page (one HTML file, inline CSS and JavaScript, no network) and a local server.

The tree is embedded as JSON and drawn by a small script: click a row's triangle to expand or
collapse it, "expand all" / "collapse all", and a search box that shows every module whose name or
type contains the text, with its ancestors opened. ``serve`` binds 127.0.0.1 only: the page is a
development aid, not something to expose on a network.
"""

from __future__ import annotations

import html
import http.server
import json
import threading
from collections.abc import Callable

from vbench.errors import VBenchError
from vbench.report.viz import ModelTree

__all__ = ["viz_html", "make_server", "serve", "serve_in_thread", "HOST"]

HOST = "127.0.0.1"

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>vbench viz: __TITLE__</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1em 2em;color:#222}
#bar{display:flex;gap:.6em;align-items:center;margin:.6em 0}#search{width:22em;padding:3px}
.row{display:grid;grid-template-columns:minmax(22em,2fr) 9em 12em 7em 6em 7em 7em;font-size:12px;
border-bottom:1px solid #f0f0f0;align-items:center}.row:hover{background:#f7f9fc}
.head{font-weight:bold;background:#f3f3f3;position:sticky;top:0}.num{text-align:right;padding-right:6px}
.toggle{display:inline-block;width:1.2em;cursor:pointer;user-select:none;color:#555}
.leaf .toggle{visibility:hidden}.children{display:none}.open>.children{display:block}
.match>.row{background:#fff3b0}.hidden{display:none}.type{color:#666}.shape{font-family:monospace}
.small{color:#666;font-size:12px}
</style></head><body>
<h1>__TITLE__</h1>
<p class="small" id="summary"></p>
<div id="bar"><input id="search" type="search" placeholder="search module name or type">
<button id="expand">expand all</button><button id="collapse">collapse all</button><span id="count" class="small">
</span></div>
<div class="row head"><span>module</span><span>type</span><span>output shape</span><span class="num">params</span>
<span class="num">GMACs</span><span class="num">output</span><span class="num">activations</span></div>
<div id="tree"></div>
<p class="small">Per sample (batch 1). params and GMACs are totals of each subtree; "output" is the module's own
output tensor(s), "activations" the sum of leaf outputs below it (fp32). GMACs by fvcore, attention matmuls
included; not counted (elementwise): __IGNORED__.</p>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("data").textContent);
const fmtInt = n => n >= 1e6 ? (n / 1e6).toFixed(2) + "M" : n >= 1e3 ? (n / 1e3).toFixed(1) + "k" : String(n);
const fmtBytes = b => b >= 1048576 ? (b / 1048576).toFixed(2) + " MiB" : b >= 1024 ? (b / 1024).toFixed(1) + " KiB"
  : b + " B";
const fmtShape = s => s == null ? "" : Array.isArray(s[0]) ? s.map(x => "[" + x.join(",") + "]").join(" ")
  : "[" + s.join(",") + "]";
function cell(text, cls) { const e = document.createElement("span"); e.textContent = text; if (cls) e.className = cls;
  return e; }
function render(node, depth) {
  const wrap = document.createElement("div");
  wrap.className = "node" + (node.children.length ? "" : " leaf");
  wrap.dataset.name = node.name;
  const row = document.createElement("div"); row.className = "row";
  const label = document.createElement("span"); label.style.paddingLeft = (depth * 14) + "px";
  const tog = cell("\\u25b8", "toggle"); label.appendChild(tog);
  const short = node.name === "" ? DATA.model : node.name.split(".").pop();
  label.appendChild(cell(short, "name")); label.title = node.name || DATA.model;
  row.appendChild(label); row.appendChild(cell(node.type, "type"));
  row.appendChild(cell(fmtShape(node.out_shape) + (node.calls > 1 ? " x" + node.calls : ""), "shape"));
  row.appendChild(cell(fmtInt(node.params), "num")); row.appendChild(cell(node.gmacs.toFixed(3), "num"));
  row.appendChild(cell(fmtBytes(node.out_bytes), "num")); row.appendChild(cell(fmtBytes(node.act_bytes), "num"));
  wrap.appendChild(row);
  const kids = document.createElement("div"); kids.className = "children";
  node.children.forEach(c => kids.appendChild(render(c, depth + 1)));
  wrap.appendChild(kids);
  tog.addEventListener("click", () => setOpen(wrap, !wrap.classList.contains("open")));
  return wrap;
}
function setOpen(el, open) { el.classList.toggle("open", open);
  const t = el.querySelector(":scope>.row .toggle"); if (t) t.textContent = open ? "\\u25be" : "\\u25b8"; }
const tree = document.getElementById("tree");
const rootEl = render(DATA.root, 0); tree.appendChild(rootEl); setOpen(rootEl, true);
const all = Array.from(tree.querySelectorAll(".node"));
document.getElementById("summary").textContent = `${DATA.model} at ${DATA.img_size}px: ${all.length} modules, `
  + `${fmtInt(DATA.root.params)} params, ${DATA.root.gmacs.toFixed(3)} GMACs, `
  + `${fmtBytes(DATA.root.act_bytes)} of activations per sample`;
document.getElementById("expand").onclick = () => all.forEach(n => n.classList.contains("leaf") || setOpen(n, true));
document.getElementById("collapse").onclick = () => { all.forEach(n => setOpen(n, false)); setOpen(rootEl, true); };
document.getElementById("search").addEventListener("input", e => {
  const q = e.target.value.trim().toLowerCase(); let hits = 0;
  all.forEach(n => { n.classList.remove("match", "hidden"); });
  if (!q) { document.getElementById("count").textContent = ""; return; }
  const keep = new Set();
  all.forEach(n => { const row = n.querySelector(":scope>.row");
    const text = (n.dataset.name + " " + row.children[1].textContent).toLowerCase();
    if (text.includes(q)) { hits++; n.classList.add("match");
      for (let p = n; p && p.classList.contains("node"); p = p.parentElement.closest(".node")) keep.add(p); } });
  all.forEach(n => { if (keep.has(n)) { if (!n.classList.contains("leaf")) setOpen(n, true); }
    else n.classList.add("hidden"); });
  document.getElementById("count").textContent = hits + " match" + (hits === 1 ? "" : "es");
});
</script></body></html>
"""


def viz_html(tree: ModelTree) -> str:
    """The visualizer page for ``tree`` as a string."""
    data = json.dumps(tree.as_dict(), separators=(",", ":")).replace("</", "<\\/")
    title = html.escape(f"{tree.model} ({tree.img_size}px)")
    ignored = html.escape(", ".join(tree.ignored_ops) or "none")
    return _PAGE.replace("__TITLE__", title).replace("__IGNORED__", ignored).replace("__DATA__", data)


def make_server(page: str, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:``port`` (0 = any free port) answering ``/`` with ``page``."""
    body = page.encode("utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            if self.path.split("?")[0] not in ("/", "/index.html"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # one line per request on stderr is noise here
            pass

    if not 0 <= port <= 65535:
        raise VBenchError(f"--port {port}: a port is 0-65535 (0 = any free port)")
    try:
        return http.server.ThreadingHTTPServer((HOST, port), Handler)
    except OSError as exc:  # busy port, or one below 1024 without the right to bind it
        raise VBenchError(f"--port {port}: cannot listen on {HOST}:{port} ({exc.strerror or exc}); "
                          "try another port or --port 0") from None


def serve(page: str, port: int = 8000, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve ``page`` on 127.0.0.1 until interrupted; ``on_ready(url)`` is called once listening."""
    server = make_server(page, port)
    url = f"http://{HOST}:{server.server_address[1]}/"
    try:
        if on_ready:
            on_ready(url)
        server.serve_forever()
    finally:
        server.server_close()


def serve_in_thread(page: str, port: int = 0) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Start a server in a daemon thread (for tests and notebooks); returns it and its URL."""
    server = make_server(page, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{HOST}:{server.server_address[1]}/"
