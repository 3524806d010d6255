"""Run `feedwatch` with a fake DNS: chosen names answer chosen addresses.

    python tests/servers/fakedns.py ANSWERS.json crawl --config ...

ANSWERS.json maps a host name to the address it resolves to. Every other name fails to
resolve (no real DNS in tests); literal addresses resolve as usual. The fake replaces
`socket.getaddrinfo` and `socket.gethostbyname`, which Twisted's resolvers call, before Twisted is imported: the whole
crawl, Scrapy's resolver setting included, runs as it does for real. Each lookup is appended
to ANSWERS.json + ".log" so the test can see which names were asked.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from pathlib import Path
from typing import Any

_real_getaddrinfo = socket.getaddrinfo
_real_gethostbyname = socket.gethostbyname


def install(answers_path: Path) -> None:
    """Replace socket.getaddrinfo with the fake one for the names in the answers file."""
    answers: dict[str, str] = json.loads(answers_path.read_text(encoding="utf-8"))
    lock = threading.Lock()
    log = answers_path.with_name(answers_path.name + ".log")

    def fake_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        with lock, log.open("a", encoding="utf-8") as handle:
            handle.write(name + "\n")
            if name not in answers:
                try:
                    socket.inet_pton(socket.AF_INET6 if ":" in name else socket.AF_INET, name)
                except OSError:
                    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
                return _real_getaddrinfo(host, port, *args, **kwargs)  # a literal address
        return _real_getaddrinfo(answers[name], port, *args, **kwargs)

    def fake_gethostbyname(host: str) -> str:  # what Scrapy's default resolver calls
        with lock, log.open("a", encoding="utf-8") as handle:
            handle.write(host + "\n")
        if host in answers:
            return answers[host]
        return _real_gethostbyname(host) if host.replace(".", "").isdigit() else _no_such(host)

    socket.getaddrinfo = fake_getaddrinfo
    socket.gethostbyname = fake_gethostbyname


def _no_such(host: str) -> str:
    raise socket.gaierror(socket.EAI_NONAME, f"Name or service not known: {host}")


if __name__ == "__main__":
    install(Path(sys.argv[1]))
    from feedwatch.cli import main

    raise SystemExit(main(sys.argv[2:]))
