"""The knowledge cloud: a folder of validated task fingerprints plus what worked for each task.

Public API
----------
KnowledgeCloud   create/open, add/add_many/remove, list, query, export/import (store.py)
TaskMeta         the meta information a lab shares with a fingerprint (manifest.py)
CloudError       invalid operation or content
query_cloud, ranking_margin, self_check, self_check_from   how far to trust a ranking (checks.py)
Modules: manifest.py (schema and checks), writer.py (lock and crash-safe commit), archive.py
(bounded archive reader), query.py (ranking without bad entries).
"""
from .manifest import (CLOUD_FORMAT, CLOUD_VERSION, DEFAULT_DISTANCE, FP_DIR, MANIFEST, CloudError, TaskMeta,
                       UnknownTaskError)
from .checks import RankingMargin, query_cloud, ranking_margin, self_check, self_check_from
from .store import KnowledgeCloud

__all__ = ["CLOUD_FORMAT", "CLOUD_VERSION", "CloudError", "DEFAULT_DISTANCE", "FP_DIR", "KnowledgeCloud", "MANIFEST",
           "RankingMargin", "TaskMeta", "UnknownTaskError", "query_cloud", "ranking_margin", "self_check",
           "self_check_from"]
