"""Build the bundled sample (`corpora/sample/`) from train-split logs of the labelled corpus.

    python corpora/tools/make_sample.py

Each log is cut into its entries (one CSV row per line, with entry_seq), as a CAD export gives them.
Crime records are made for some of the offences so that a scan shows every case: covered by a linked
crime (not flagged), linked to a crime that does not cover the label, and no linked crime at all. One
row has blank text, to show the rejects file. The choice is seeded, so the sample is reproducible.
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from classifier.corpus import load_corpus  # noqa: E402

OUT = ROOT / "corpora" / "sample"
LESSER_OR_OTHER = {
    "rape": ("other_sexual", "Sexual assault on a female aged 13 and over"),
    "other_sexual": ("", "Public order s5"),
    "violence_with_injury": ("violence_without_injury", "Common assault"),
    "violence_without_injury": ("", "Criminal damage to a dwelling"),
    "stalking_harassment": ("", "Criminal damage to a vehicle"),
}
COVERING = {
    "rape": "Rape of a female aged 16 and over",
    "other_sexual": "Sexual assault on a female aged 13 and over",
    "violence_with_injury": "Assault occasioning actual bodily harm",
    "violence_without_injury": "Common assault",
    "stalking_harassment": "Harassment",
}


def main() -> None:
    rng = random.Random(20261126)
    records = list(load_corpus(ROOT / "corpora" / "incidents", ("train",)))
    positives = [r for r in records if r["label"] != "none" and r.get("hidden")]
    negatives = [r for r in records if r["label"] == "none" and r.get("hard_negative")]
    chosen = rng.sample(positives, 18) + rng.sample(negatives, 12)
    rng.shuffle(chosen)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "incidents.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["incident_id", "entry_seq", "opened_at", "opening_code", "closing_code", "text"])
        for record in chosen:
            lines = [line for line in record["text"].split("\n") if line.strip()]
            for seq, line in enumerate(lines, start=1):
                last = seq == len(lines)
                writer.writerow([record["incident_id"], seq, record["opened_at"], record["opening_code"],
                                 record["closing_code"] if last else "", line])
        writer.writerow([chosen[0]["incident_id"], 99, "", "", "", "  "])
    crimes = []
    offences = [r for r in chosen if r["label"] != "none"]
    for n, record in enumerate(offences):
        crime_id = f"20/{40000 + n * 37}/26"
        kind = n % 3
        if kind == 0:
            crimes.append([crime_id, record["incident_id"], record["label"], COVERING[record["label"]], record["opened_at"]])
        elif kind == 1:
            label, offence = LESSER_OR_OTHER[record["label"]]
            crimes.append([crime_id, record["incident_id"], label, offence, record["opened_at"]])
    crimes.append(["20/49999/26", "", "violence_without_injury", "Common assault", "2026-01-02T10:00:00"])
    with open(OUT / "crimes.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["crime_id", "incident_id", "label", "offence", "recorded_at"])
        writer.writerows(crimes)
    print(f"{len(chosen)} incidents, {len(crimes)} crime records written to {OUT}")


if __name__ == "__main__":
    main()
