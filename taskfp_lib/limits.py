"""The limits that protect the library from hostile files, one home each (see book/threat_model.md).

Fingerprints, reference-range files and knowledge-cloud archives travel between labs; every byte
of them is read under these caps, and every caught violation is a one-line error naming the file
and the field. The values are generous for honest files (the paper's fingerprint: 512 features,
100- and 1000-bin histograms, a 512 x 512 covariance -- about 6.5 MB) and small enough that a
decompression bomb is refused before it is inflated.
"""
from __future__ import annotations

# ---------------------------------------------------------------------------------- NPZ + JSON files
#: largest ``metadata.json`` member of a fingerprint or range file (decompressed bytes)
MAX_JSON_MEMBER_BYTES = 1 << 20
#: largest knowledge-cloud manifest ``cloud.json`` (on disk or inside an archive; decompressed bytes)
MAX_MANIFEST_BYTES = 16 << 20
#: largest ``.npy`` header (numpy's own default cap)
MAX_NPY_HEADER_BYTES = 10_000
#: most members of one fingerprint or range file
MAX_NPZ_MEMBERS = 16
#: most decompressed bytes of one fingerprint or range file, all members together
#: (a Fisher embedding of the last 60 % of ResNet34's layers is about 80 MB)
MAX_FINGERPRINT_BYTES = 256 << 20
#: dtypes an exchanged array may have (little-endian floats and integers; never complex, strings,
#: objects or structured records)
ALLOWED_DTYPES = frozenset({"<f8", "<f4", "<i8", "<i4", "|u1", "|b1"})

# ---------------------------------------------------------------------------------- cloud archives
#: most members of a knowledge-cloud archive
MAX_ARCHIVE_MEMBERS = 10_000
#: most decompressed bytes of one knowledge-cloud archive, manifest included
MAX_ARCHIVE_BYTES = 4 << 30
#: seconds a cloud writer waits for another writer's lock before giving up
LOCK_TIMEOUT_S = 60.0

# ---------------------------------------------------------------------------------- fingerprint content
#: covariance is positive semi-definite when ``min eigenvalue >= -PSD_RTOL * max(|eigenvalue|)``
PSD_RTOL = 1e-8
#: no sample is assumed to exceed its reference range by more than this many range scales, so
#: ``mean_j <= right_j + p_top_j * F * max(right_j - left_j, |right_j|)`` (``[left_j, right_j]`` the
#: histogram range, ``p_top_j`` the histogram's top-bin mass); a random-init probe on images 5x brighter
#: than its reference task reaches about 11
MEAN_RANGE_FACTOR = 100.0
#: longest task name (characters); names are printable and do not start with a spreadsheet-active
#: character or white space
MAX_TASK_NAME_CHARS = 200
#: most user fields in a fingerprint's ``task_meta`` and the longest string value
MAX_TASK_META_FIELDS = 32
MAX_META_STRING_CHARS = 2_000
#: largest bin count of a histogram set
MAX_BINS = 100_000

# ---------------------------------------------------------------------------------- downloads
#: a download may take this many seconds plus ``size / DOWNLOAD_MIN_RATE`` in all (overall deadline)
DOWNLOAD_BASE_S = 60.0
#: bytes per second a download must average to stay within its deadline
DOWNLOAD_MIN_RATE = 50_000
#: seconds one read from the server may block
DOWNLOAD_READ_TIMEOUT_S = 30.0
#: seconds a fetch waits for another process fetching into the same data directory
FETCH_LOCK_TIMEOUT_S = 1800.0
