"""taskfp_lib: task fingerprints, task distances and their evaluation.

Implements the method and the analysis of Godau et al., "Beyond Knowledge Silos: Task
Fingerprinting for Democratization of Medical Imaging AI" (arXiv 2412.08763).
"""
__version__ = "0.1.0"
