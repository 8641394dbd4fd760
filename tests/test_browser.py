"""A real browser: JupyterLab serves a notebook that runs a job with the chapters' live dashboard,
headless Chromium (Debian's, driven by Selenium) runs all its cells against the test cluster, and
the live plot, the final figures and the outputs must render. This is what a learner does;
everything else in the suite runs headless. (The chapters themselves run once, in
test_notebooks.py: the dashboard they use is the one rendered here.)"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import requests
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.cluster

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
# JupyterLab's options as `make lab` gives them (quiet log, encrypted kernel transport); the
# command line below sets this test's own port, token and folder.
JUPYTER_CONFIG = Path(__file__).resolve().parent.parent / "scripts" / "jupyter_lab_config.py"
RUN_TIMEOUT_S = 300
RECORDS, KEYS = 9_000, 100
LIVE_JOB = [
    "import labkit as lk\nfrom labkit.pipelines import keyed_count as kc\n"
    "lab = lk.up()",
    "job = lk.submit(kc.build, name='browser-count', "
    "config=lk.job_config(**{'execution.checkpointing.interval': '2s'}),\n"
    f"                records={RECORDS}, keys={KEYS}, rate=2_000)\n"
    "job.wait_running()",
    "dash = lk.live(job)",
    "job.wait_finished(timeout=240)\ndash.final()",
    f"print('exact:', kc.read_counts(job.output) == kc.expected_counts({RECORDS}, {KEYS}))",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def jupyterlab(cluster, lab_env, tmp_path):
    """JupyterLab on a notebook in a temporary folder, in the test lab's environment, live plots on
    (not headless), every cell rendered."""
    root = tmp_path / "notebooks"
    root.mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell(source) for source in LIVE_JOB],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}}),
                   root / "live.ipynb")
    settings = tmp_path / "lab-settings"
    for plugin, values in {"notebook-extension/tracker": {"windowingMode": "none"},
                           "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, **lab_env, "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    env.pop("LABKIT_HEADLESS")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"), "lab", f"--config={JUPYTER_CONFIG}", "--no-browser",
         "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "jupyter.log", "w"), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/status", params={"token": token}, timeout=2).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.5)
    else:
        server.terminate()
        pytest.fail(f"JupyterLab did not answer in 60 s: {(tmp_path / 'jupyter.log').read_text()[-2000:]}")
    yield url, token, root
    server.terminate()  # JupyterLab shuts its kernels down on SIGTERM
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.fixture()
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("the real-browser test needs Chromium and ChromeDriver: `make browser` "
                    "(Debian: sudo apt-get install -y chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _click(driver, css: str, text: str | None = None, timeout: float = 60):
    from selenium.webdriver.common.by import By
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for element in driver.find_elements(By.CSS_SELECTOR, css):
            if element.is_displayed() and (text is None or element.text.strip() == text):
                element.click()
                return
        time.sleep(0.3)
    pytest.fail(f"no {css!r} {text or ''} in the page after {timeout} s")


KERNEL_STATUS = """var e = document.querySelector('.jp-Notebook-ExecutionIndicator');
                   return e ? e.getAttribute('data-status') : null;"""


def _wait_for_a_ready_kernel(driver, timeout: float = 90) -> None:
    """The indicator reads "idle" once before the kernel has even started (then initializing,
    unknown, idle): wait for idle after a start, or idle for 5 s in a row."""
    deadline, started, idle_since = time.monotonic() + timeout, False, None
    while time.monotonic() < deadline:
        status = driver.execute_script(KERNEL_STATUS)
        started |= status in ("initializing", "starting", "unknown", "busy")
        if status == "idle":
            idle_since = idle_since or time.monotonic()
            if started or time.monotonic() - idle_since > 5:
                return
        else:
            idle_since = None
        time.sleep(0.5)
    pytest.fail(f"the notebook's kernel was not ready after {timeout} s (status {status!r})")


PROMPTS = """return Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'))
                   .map(p => p.textContent.trim());"""
IMAGES = """return Array.from(document.querySelectorAll('.jp-Notebook .jp-OutputArea-output img'))
                   .map(i => ({widget: i.classList.contains('widget-image'), width: i.naturalWidth,
                               src: i.src.slice(0, 15)}));"""


def test_a_job_runs_in_a_real_browser_with_live_plots_and_outputs(jupyterlab, browser):
    url, token, root = jupyterlab
    browser.get(f"{url}/lab/tree/live.ipynb?token={token}")
    _wait_for_a_ready_kernel(browser)
    _click(browser, ".lm-MenuBar-itemLabel", "Run", timeout=90)
    _click(browser, "li.lm-Menu-item[data-command='runmenu:run-all']")

    saw_live_plot = False
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        prompts = browser.execute_script(PROMPTS)
        images = browser.execute_script(IMAGES)
        saw_live_plot |= any(i["widget"] and i["width"] > 0 for i in images)
        if prompts and all(p[1:-2].isdigit() for p in prompts):  # every cell shows "[n]:"
            break
        time.sleep(2)
    else:
        pytest.fail(f"the notebook did not finish in {RUN_TIMEOUT_S} s; prompts: {prompts}")

    text = browser.execute_script("return document.querySelector('.jp-Notebook').innerText;")
    images = browser.execute_script(IMAGES)
    assert saw_live_plot, "the live dashboard (an ipywidgets image) never rendered while the job ran"
    figures = [i for i in images if not i["widget"] and i["src"].startswith("data:image/png")]
    assert figures and all(i["width"] > 0 for i in figures), f"final figures did not render: {images}"
    assert "exact: True" in text

    _click(browser, ".lm-MenuBar-itemLabel", "File")
    _click(browser, "li.lm-Menu-item[data-command='docmanager:save']")
    time.sleep(3)
    saved = nbformat.read(root / "live.ipynb", as_version=4)
    outputs = [o for c in saved.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], "a cell failed in the browser"
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
