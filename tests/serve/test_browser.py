"""The status page in a real headless browser (Debian's Chromium), with a screenshot check.

Skipped when no Chromium is installed (``apt-get install chromium chromium-driver``;
``.ci/run`` installs it where it can).
"""

import shutil
import subprocess

import httpx
import numpy as np
import pytest

import qjax
from qjax.ir.ansatze import hardware_efficient
from qjax.serve.auth import hash_key
from qjax.serve.process import ServiceProcess
from qjax.wire import encode_circuit, encode_observable

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
KEY = "browser-test-key-0123456789"

pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium installed (apt-get install chromium)")


def browse(url, *args):
    return subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1400,900",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_status_page_renders_the_queue_and_recent_jobs_in_chromium(tmp_path):
    import matplotlib.image

    circuit = hardware_efficient(3, 2, ("RY", "RZ"), "chain")
    body = {
        "target": "simulator",
        "circuit": encode_circuit(circuit),
        "observables": [encode_observable(qjax.PauliSum("Z0 Z1"))],
        "params": [[0.1] * circuit.num_params] * 3,
    }
    headers = {"Authorization": f"Bearer {KEY}"}
    # --public-jobs: the page with the most on it (by default it shows aggregates only, see test_serve_limits.py)
    with ServiceProcess(tmp_path / "svc", [KEY], args=["--public-jobs"]) as svc:
        ids = []
        for target, shots in (("simulator", None), ("ibm_fake", 1000)):
            job = httpx.post(f"{svc.url}/v1/jobs", json=body | {"target": target, "shots": shots}, headers=headers)
            ids.append(job.json()["id"])
            doc = httpx.get(f"{svc.url}/v1/jobs/{ids[-1]}?wait=30", headers=headers, timeout=60).json()
            assert doc["status"] == "done"
        dom = browse(f"{svc.url}/", "--dump-dom")
        shot = tmp_path / "page.png"
        browse(f"{svc.url}/", f"--screenshot={shot}")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "qjax execution service" in html and "fake_manila" in html and "error rate" in html
    assert all(job_id[:8] in html for job_id in ids) and "<script" not in html
    assert hash_key(KEY)[:8] not in html and KEY not in html  # never key ids, never keys
    image = matplotlib.image.imread(shot)
    assert image.shape[:2] == (900, 1400)
    pixels = image[..., :3].reshape(-1, 3)
    assert len(np.unique((pixels * 255).astype(np.uint8), axis=0)) > 20  # text and colour, not a blank page
    ink = (pixels.mean(axis=1) < 0.5).mean()  # dark pixels: text of the tables
    assert 0.005 < ink < 0.5
