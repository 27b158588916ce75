"""Environment for every pytest run (tests/ and the nbval notebooks), set before anything is imported.

Notebooks re-executed by nbval write their results into a temporary folder, never into the
committed results/ (their kernels inherit this environment).
"""
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TASKFP_RESULTS_DIR", tempfile.mkdtemp(prefix="taskfp-nbval-results-"))
