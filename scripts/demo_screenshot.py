"""Takes the README's screenshot of the demo page (docs/demo.png): serves the shipped checkpoints with `ebmm serve`
(auth off, a throw-away data dir), then has headless chromium store 16 random patterns in `binary128`, erase
half the bits of one (the corruption and strength the model was meta-trained on) and restore it.

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
MODEL = "binary128"
PATTERNS = 16  # of the model's 96: the erasures it was trained on restore exactly at this load
ITEM = 3


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = {"EBMM_AUTH_DISABLED": "true", "EBMM_DATA_DIR": data_dir, "EBMM_DEVICE": "cpu"}
        with ServeProcess(settings | {"EBMM_TORCH_THREADS": "1"}) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
            page = browser.new_page(viewport={"width": 960, "height": 1200})
            page.goto(f"{server.url}/demo/")
            expect(page.locator(f"#model option[value='{MODEL}']")).to_have_count(1)
            page.select_option("#model", MODEL)
            page.fill("#count", str(PATTERNS))
            page.click("#add")
            page.click("#store")
            expect(page.locator("#stored")).to_contain_text("Stored memory")
            page.click(f"#items li:nth-child({ITEM}) button")
            page.select_option("#corruption", "erase")  # at the model's standard strength, which the page fills in
            page.click("#retrieve")
            expect(page.locator("#step-caption")).to_contain_text(re.compile(r"Step (\d+) of \1:"), timeout=30_000)
            print(page.text_content("#verdict"))
            shot = page.screenshot(full_page=True)
            browser.close()
    image = Image.open(io.BytesIO(shot)).convert("RGB").quantize(colors=64)
    image.save(OUT, optimize=True)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()
