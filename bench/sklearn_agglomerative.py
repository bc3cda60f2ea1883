"""Reference for the clustering benchmark: scikit-learn's AgglomerativeClustering on the first N
Fashion-MNIST training images (pixels in [0, 1]), average linkage on the full pairwise distances
(its default without a connectivity graph), merged until a distance threshold as semipoison's
detector does. Prints one JSON line with the fit time and the process's peak RSS.

Usage: /usr/bin/python3 bench/sklearn_agglomerative.py N THREADS
"""
import gzip
import json
import os
import resource
import struct
import sys
import time

import numpy as np


def main():
    n, threads = int(sys.argv[1]), sys.argv[2]
    os.environ["OMP_NUM_THREADS"] = threads
    from sklearn.cluster import AgglomerativeClustering

    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", "rb") as f:
        data = f.read()
    total, h, w = struct.unpack(">III", data[4:16])
    if n > total:
        raise SystemExit(f"N = {n} is more than the {total} training images")
    x = np.frombuffer(data, np.uint8, offset=16)[: n * h * w].reshape(n, h * w).astype(np.float32) / 255
    # The same kind of threshold as semipoison's default: a multiple of the typical nearest-neighbour
    # distance (measured on a sample, so that the reference pays only for its clustering).
    sample = x[: min(n, 2000)]
    sq = (sample**2).sum(1)
    # Gram form: a 2000 × 2000 matrix, not the 2000 × 2000 × 784 difference tensor (12 GB), which
    # would dominate the peak RSS reported for the clustering.
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * sample @ sample.T, 0))
    np.fill_diagonal(d, np.inf)
    threshold = 0.5 * float(np.median(d.min(1)))
    t0 = time.perf_counter()
    AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, linkage="average").fit(x)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": n, "seconds": seconds, "peak_rss_mb": peak}))


if __name__ == "__main__":
    main()
