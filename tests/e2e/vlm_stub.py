"""A stand-in vision-language server for tests/e2e/vlm.rs, OpenAI-compatible, on loopback.

Usage: python3 vlm_stub.py PORT LOG [UPSTREAM] [DELAY_S]
Chat requests with an image get a description built from the image the stub received: the
PNG's size from its IHDR and the sha256 of its bytes, after DELAY_S seconds (so a test can
see what runs at the same time). It checks what a VLM server needs: one user message whose
content has a text part and a `data:image/png;base64,` part holding a real PNG; anything
else is answered HTTP 400 with the reason. Every other request is forwarded to UPSTREAM
(llama.cpp's server, for the summary-worker), or answered 404 without one. Each request is
logged to LOG as a JSON line: kind ("image", "text" or "other"), start and end (ms since
the epoch), path, and for images the size, sha256 and the prompt. Prints "ready URL" once
listening; serves (several requests at once) until stdin closes or SIGTERM.
"""
import base64
import hashlib
import json
import signal
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG = int(sys.argv[1]), sys.argv[2]
UPSTREAM = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
DELAY = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
LOCK = threading.Lock()


def now_ms() -> int:
    return int(time.time() * 1000)


def log(entry: dict) -> None:
    with LOCK, open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def image_of(body: dict):
    """(png bytes, prompt) of an image chat request, None if it has no image, or raises
    ValueError saying what is wrong."""
    msgs = body.get("messages")
    if not isinstance(msgs, list):
        raise ValueError("no messages")
    parts = [p for m in msgs if isinstance(m.get("content"), list) for p in m["content"]]
    images = [p for p in parts if p.get("type") == "image_url"]
    if not images:
        return None
    if len(msgs) != 1 or msgs[0].get("role") != "user" or len(images) != 1:
        raise ValueError("expected one user message with one image")
    texts = [p.get("text", "") for p in parts if p.get("type") == "text"]
    if not texts or not texts[0].strip():
        raise ValueError("the image comes without a text prompt")
    url = images[0].get("image_url", {}).get("url", "")
    prefix = "data:image/png;base64,"
    if not url.startswith(prefix):
        raise ValueError("the image is not a data:image/png;base64 URL")
    png = base64.b64decode(url[len(prefix):], validate=True)
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("the image is not a PNG")
    return png, texts[0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def answer(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, method: str, raw) -> None:
        start = now_ms()
        if UPSTREAM is None:
            self.answer(404, b'{"error": "no upstream"}')
            return
        req = urllib.request.Request(UPSTREAM + self.path, data=raw, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        kind = "text" if self.path.endswith("/chat/completions") else "other"
        log({"kind": kind, "start": start, "end": now_ms(), "path": self.path})
        self.answer(status, body)

    def do_GET(self):
        self.forward("GET", None)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/v1/chat/completions":
            self.forward("POST", raw)
            return
        try:
            found = image_of(json.loads(raw))
        except (ValueError, json.JSONDecodeError) as e:
            self.answer(400, json.dumps({"error": str(e)}).encode())
            return
        if found is None:
            self.forward("POST", raw)
            return
        start = now_ms()
        png, prompt = found
        width, height = struct.unpack(">II", png[16:24])
        digest = hashlib.sha256(png).hexdigest()
        time.sleep(DELAY)
        text = f"A picture of {width}x{height} pixels, sha256 {digest[:16]}."
        log({"kind": "image", "start": start, "end": now_ms(), "path": self.path,
             "width": width, "height": height, "sha256": digest, "prompt": prompt})
        reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
        self.answer(200, json.dumps(reply).encode())


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"ready http://127.0.0.1:{PORT}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
