"""llama.cpp's own HTTP server, in process through the xllamacpp wheel, on loopback.

Usage: python llm_server.py MODEL.gguf PORT [N_CTX]
Prints "ready http://127.0.0.1:PORT" once /health says the model is loaded, then serves until its
stdin closes or it gets SIGTERM. Used by tests/e2e/summary.rs; nothing else listens.
"""
import json
import signal
import sys
import time
import urllib.request

import xllamacpp


def main() -> None:
    model, port = sys.argv[1], int(sys.argv[2])
    n_ctx = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    params = xllamacpp.CommonParams()
    params.model.path = model
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.port = port
    params.hostnames = ["127.0.0.1"]
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    server = xllamacpp.Server(params)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                json.load(r)
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    print("ready", url, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stdin.read()
    del server


if __name__ == "__main__":
    main()
