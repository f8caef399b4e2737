"""Takes the README's screenshot of the demo page (docs/demo.png): serves the shipped checkpoints with `ebmm serve`
(auth off, a throw-away data dir), then has headless chromium store 8 test digits in `digits-conv`, occlude one
and restore it.

    .venv/bin/python scripts/demo_screenshot.py            # needs /usr/bin/chromium (scripts/ensure-browser.sh)
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import expect, sync_playwright

from service.serve_process import ServeProcess

OUT = Path(__file__).resolve().parents[1] / "docs" / "demo.png"
MODEL = "digits-conv"


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = {"EBMM_AUTH_DISABLED": "true", "EBMM_DATA_DIR": data_dir, "EBMM_DEVICE": "cpu"}
        with ServeProcess(settings | {"EBMM_TORCH_THREADS": "1"}) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
            page = browser.new_page(viewport={"width": 960, "height": 1200})
            page.goto(f"{server.url}/demo/")
            expect(page.locator(f"#model option[value='{MODEL}']")).to_have_count(1)
            page.select_option("#model", MODEL)
            page.fill("#count", "8")
            page.click("#add")
            page.click("#store")
            expect(page.locator("#stored")).to_contain_text("Stored memory")
            page.click("#items li:nth-child(3) button")
            page.focus("#query")
            for key in ("ArrowRight", "ArrowRight", "ArrowDown", "ArrowDown"):
                page.keyboard.press(key)
            page.click("#retrieve")
            expect(page.locator("#step-caption")).to_contain_text(re.compile(r"Step (\d+) of \1:"), timeout=30_000)
            shot = page.screenshot(full_page=True)
            browser.close()
    image = Image.open(io.BytesIO(shot)).convert("RGB").quantize(colors=64)
    image.save(OUT, optimize=True)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()
