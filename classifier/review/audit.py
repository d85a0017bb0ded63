"""An inspector's check of what the scan did not flag: a seeded random sample of unflagged incidents."""

from __future__ import annotations

import random
from pathlib import Path

from classifier.io.readers import read_incidents


def draw_audit_sample(incidents: Path, store, *, size: int, seed: int, scorer, encoding: str = "utf-8"):
    """Draw `size` incidents of the file that the store holds no flag for, score them, and keep them in the
    store as an audit sample. Returns (sample id, the (incident, score) pairs, how many were unflagged).

    One pass, in bounded memory (reservoir sampling); the same file, store and seed give the same sample.
    """
    rng = random.Random(seed)
    reservoir, population = [], 0
    for incident in read_incidents(incidents, encoding=encoding):
        if store.has_flag(incident.incident_id):
            continue
        population += 1
        if len(reservoir) < size:
            reservoir.append(incident)
        else:
            j = rng.randrange(population)
            if j < size:
                reservoir[j] = incident
    items = list(scorer.score(reservoir))
    sample_id = store.add_audit_sample(str(incidents), seed, population, items)
    return sample_id, items, population
