"""Container health check: GET /health on this container, exit 0 when it answers 200.

Django refuses a Host header outside DJANGO_ALLOWED_HOSTS, so the check sends the
first allowed host (a wildcard entry becomes a name it matches). Standard library
only: it runs inside the slim image, which has no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.request

PORT = os.environ.get("AUTOSKILL_HEALTH_PORT", "8000")


def allowed_host() -> str:
    hosts = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",")]
    host = next((h for h in hosts if h), "localhost")
    if host == "*":
        return "localhost"
    return "health" + host if host.startswith(".") else host


def main() -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/health", headers={"Host": allowed_host()}
    )
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 - fixed loopback URL
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"health check failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
