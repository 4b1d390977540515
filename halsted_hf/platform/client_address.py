"""Which network address a sign-in comes from, for throttling (throttle.py).

Streamlit reports the address of the connection it sees, and none at all on loopback. Behind a reverse
proxy (or any proxy on the same machine) that is the proxy, so every browser would share one count. When
the operator names the header their proxy sets (HALSTED_CLIENT_ADDRESS_HEADER, e.g. X-Forwarded-For or
X-Real-IP), the address is read from it. Only the proxy's own entry is believed: in X-Forwarded-For the
last one (the proxy appends the peer it saw; everything to the left came from the client and can be
anything). Set the header only where the dashboard is reachable through that proxy alone, or a client
could send the header itself. No header configured, or none in the request: the connection's address,
which may be unknown (None); throttle.py then says that it counts such browsers together.
"""

from __future__ import annotations

import ipaddress
from typing import Mapping, Optional

MAX_HEADER_CHARS = 2000  # a hostile header costs nothing to refuse


def _address(text: str) -> Optional[str]:
    text = text.strip().strip('"')
    if text.startswith("["):  # [v6]:port
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _from_header(name: str, value: str) -> Optional[str]:
    if len(value) > MAX_HEADER_CHARS:
        return None
    last = value.split(",")[-1]
    if name.lower() == "forwarded":  # RFC 7239: for=ADDR in the last element
        params = dict(p.split("=", 1) for p in last.split(";") if "=" in p)
        last = {k.strip().lower(): v for k, v in params.items()}.get("for", "")
    return _address(last)


def client_address(headers: Mapping[str, str], peer: Optional[str], header: Optional[str]) -> Optional[str]:
    """The browser's address: from the configured proxy `header` when the request has a valid one, else the
    connection's `peer` address (None when unknown, e.g. on loopback)."""
    if header:
        value = next((v for k, v in (headers or {}).items() if k.lower() == header.lower()), None)
        if isinstance(value, str):
            found = _from_header(header, value)
            if found:
                return found
    return peer if isinstance(peer, str) and peer else None
