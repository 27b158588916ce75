"""Environment for every pytest run, set before anything is imported.

Code under test that writes results files without a folder, and notebooks run by hand with
``pytest --nbval-lax notebooks/`` (their kernels inherit this environment), write into a temporary
folder, never into the committed results/.
"""
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TASKFP_RESULTS_DIR", tempfile.mkdtemp(prefix="taskfp-nbval-results-"))
