"""A stand-in for the ESG platform: a tiny http.server on its own port (another origin than the portal) serving
pages that embed the widget with one script tag, the identity attributes signed by the test.

    with HostServer() as host:
        host.page("/", embed_page(portal_url, site.public_key, jwt=token))
        browser.goto(host.url("/"))

For the demo (``flask demo seed`` prints the demo site's key and secret), serve a signed page on port 5001:

    python -m tests.widget.host_server --portal http://127.0.0.1:5000 --key wpk_... --kid k... --secret ... \
        --email customer@demo.test
"""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def embed_page(portal_url: str, key: str, *, title: str = "ESG platform", **identity: str) -> str:
    """The platform's page: some content and the widget's tag; ``identity`` becomes data-* attributes
    (``jwt``, ``email``, ``user_hash``, ``kid``, ``name``)."""
    attributes = "".join(
        f' data-{name.replace("_", "-")}="{html.escape(value, quote=True)}"' for name, value in identity.items()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Your emissions dashboard.</p>"
        f'<script src="{portal_url}/widget.js" data-key="{html.escape(key, quote=True)}"{attributes} async></script>'
        "</body></html>"
    )


class HostServer:
    def __init__(self, host: str = "127.0.0.1", hostname: str = "localhost", port: int = 0):
        self.pages: dict[str, str] = {}
        self.requests: list[str] = []
        pages, seen = self.pages, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # http.server calls it by this name
                seen.append(self.path)
                body = pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        # Reached by a name other than the portal's 127.0.0.1: another origin and another site, as in production.
        self.origin = f"http://{hostname}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="widget-host", daemon=True)

    def page(self, path: str, body: str) -> None:
        self.pages[path] = body

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def __enter__(self) -> HostServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def _demo() -> None:
    """Serve the demo platform page, signed with a fresh JWT on every start (it expires like a real one)."""
    import argparse
    import time

    import jwt

    parser = argparse.ArgumentParser(description="A demo ESG platform page embedding the support widget.")
    for name in ("--portal", "--key", "--kid", "--secret", "--email"):
        parser.add_argument(name, required=True)
    parser.add_argument("--name", default="Demo User")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args()
    now = int(time.time())
    claims = {"email": args.email, "name": args.name, "iat": now, "exp": now + 600}
    token = jwt.encode(claims, args.secret, algorithm="HS256", headers={"kid": args.kid})
    with HostServer(port=args.port) as host:
        host.page("/", embed_page(args.portal.rstrip("/"), args.key, jwt=token))
        print(f"Demo platform on {host.url('/')} (the signed identity expires in 10 minutes; restart to renew)")
        host.thread.join()


if __name__ == "__main__":
    _demo()
