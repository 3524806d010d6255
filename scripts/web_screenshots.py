"""Screenshots of the web app's main pages for docs/img/, from the demo archive.

    python scripts/web_screenshots.py [--out docs/img] [--demo /tmp/feedwatch-shots]

Runs `feedwatch demo` into a scratch folder, imports the real cross-outlet repost pair of
tests/fixtures/alerts (RFI and VOA on the same Freedom House report) so that one story shows
a merge, serves the app on a free local port and photographs it with Debian's chromium.
Chinese text needs a CJK font in the system (e.g. `apt-get install fonts-wqy-zenhei`), or
titles show as boxes.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conf.schema import load_config  # noqa: E402
from feedwatch.read_commands import start_background_server  # noqa: E402

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPOSTS = ["repost_rfi_freedom_house.md", "repost_voa_freedom_house.md"]


def main(argv: list[str] | None = None) -> int:
    """Build the demo, serve it, write the PNGs."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    ap.add_argument("--demo", type=Path, default=Path("/tmp/feedwatch-shots"))
    args = ap.parse_args(argv)
    feedwatch = [sys.executable, "-m", "feedwatch"]
    subprocess.run([*feedwatch, "demo", "--out", str(args.demo)], check=True, capture_output=True)
    config_path = args.demo / "config.yaml"
    fixtures = ROOT / "tests" / "fixtures" / "alerts"
    for name in REPOSTS:  # one at a time: the second joins the first's story
        subprocess.run(
            [*feedwatch, "import", str(fixtures / name), "--config", str(config_path)], check=True
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _thread, server = start_background_server(load_config(config_path), "127.0.0.1", port)
    base = f"http://127.0.0.1:{port}"
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        shots = {
            "stories.png": "/",
            "search.png": "/search?q=朝鮮",
            "outlets.png": "/outlets",
            "alerts.png": "/alerts",
        }
        for name, url in shots.items():
            page.goto(base + url)
            page.screenshot(path=str(args.out / name))
        page.goto(base + "/search?q=自由之家")
        page.locator("li.story a.title").first.click()
        page.wait_for_url("**/story/*")
        page.screenshot(path=str(args.out / "story.png"), full_page=True)
        browser.close()
    server.close()
    print(f"wrote {len(shots) + 1} screenshots to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
