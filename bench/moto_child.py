"""A moto S3 server (ThreadedMotoServer) in its own process, which also seeds objects on request.

The objects go straight into moto's backend: uploading 100,000 images through the HTTP API would take minutes
of setup.

Protocol: argv[1] = port; prints "ready"; then one JSON command a line on stdin, one JSON reply a line:
  {"op": "seed", "bucket", "products", "images_per_product", "layout", "version", "percent", "salt"}
  {"op": "fill", "bucket", "prefix", "names": "<format with {n}>", "count", "body"}
Closing stdin stops the server.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(port: int) -> None:
    """Serve S3 on `port` and answer the seeding commands of stdin until it closes."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    from bench.synthetic import CatalogSpec, image_content, is_changed

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for line in sys.stdin:
        cmd = json.loads(line)
        n = 0
        if cmd["op"] == "seed":
            spec = CatalogSpec(cmd["products"], cmd["images_per_product"], cmd["layout"])
            for i in range(spec.products):
                for j in range(spec.images_per_product):
                    if cmd["percent"] and not is_changed(i, j, cmd["percent"], cmd["salt"]):
                        continue
                    key = spec.key(i, j)
                    backend.put_object(cmd["bucket"], key, image_content(key, cmd["version"]))
                    n += 1
        elif cmd["op"] == "fill":
            body = cmd["body"].encode()
            for k in range(cmd["count"]):
                backend.put_object(cmd["bucket"], cmd["prefix"] + cmd["names"].format(n=k), body)
                n += 1
        print(json.dumps({"objects": n}), flush=True)
    server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]))
