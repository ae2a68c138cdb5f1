"""What the SDK scripts share: their command line, Stripe's SDK pointed at the sandbox, a receiver
of the sandbox's webhooks, and the sandbox's control API."""
import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import stripe


def configure():
    """Reads API_BASE API_KEY WEBHOOK_SECRET RECEIVER_PORT and points the SDK at the sandbox."""
    api_base, api_key, webhook_secret, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    stripe.api_key = api_key
    stripe.api_base = api_base
    stripe.max_network_retries = 0
    return api_base, webhook_secret, port


def receive(port, on_webhook):
    """Takes the sandbox's webhooks on `port`: `on_webhook(payload, signature)` says which status
    to answer."""

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            payload = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(on_webhook(payload, self.headers["Stripe-Signature"]))
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", port), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def control(api_base, path, body):
    """POSTs `body` to the sandbox's control API at `/_sandbox/{path}`."""
    req = urllib.request.Request(f"{api_base}/_sandbox/{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())
