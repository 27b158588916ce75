"""The authors' published intermediate results: data manifest, fetch and verification, file readers."""
from .manifest import (ARXIV_COMMIT, COMMITS, UPSTREAM_COMMIT, UPSTREAM_REPO, DataError, data_dir, data_path,
                       fetch_all, load_manifest, manifest_digest, manifest_files)
from .readers import (load_distance, load_task_infos, outcome_filename, read_baseline_file, read_distance_csv,
                      read_transfer_file, sample_size_stem)

__all__ = ["ARXIV_COMMIT", "COMMITS", "UPSTREAM_COMMIT", "UPSTREAM_REPO", "DataError", "data_dir", "data_path",
           "fetch_all", "load_manifest", "manifest_digest", "manifest_files", "load_distance", "load_task_infos",
           "outcome_filename", "read_baseline_file", "read_distance_csv", "read_transfer_file", "sample_size_stem"]
