#!/usr/bin/env python3
"""Write N book-like records for the backfill benchmark (benches/backfill.sh).

    python3 benches/gen_records.py N OUT [--lines] [--seed S]

OUT is a JSON array (default) or JSON Lines (--lines: one compact object per line). The file is
written as it is generated (no list of N records in memory), and is the same for the same N and
seed. Each record is about the size of a real scraped one (~350-450 bytes of compact JSON):
the fields of `bookstream scrape` output plus a description sentence of ~70 characters (46-103):
records average ~430 bytes (362-517). --description-chars 150 gives a ~150-character sentence,
but then the records average ~510 bytes, above a real record's size. `upc` is 16 hex
characters and unique within the file (a bijection of the record's index, so no set is kept).
"""
import argparse
import datetime
import json
import random
import sys

CATEGORIES = [
    "Poetry", "Historical Fiction", "Fiction", "Mystery", "Travel", "Music", "Science Fiction",
    "Philosophy", "Romance", "Default", "Classics", "Nonfiction", "Sequential Art", "Fantasy",
    "Young Adult", "Business", "Science", "Psychology", "Self Help", "Humor", "Food and Drink",
    "Thriller", "Autobiography", "Spirituality", "Art", "Womens Fiction", "Christian Fiction",
]
WORDS = (
    "light attic velvet tipping soumission sharp objects sapiens brief history humankind "
    "requiem red dirty little secrets coming woman boys boat nine americans epic quest olympic "
    "starving hearts shakespeare sonnets set me free rip van winkle nation our band could be "
    "your life black maria slow regard silent things strange wind forest garden river stone "
    "winter summer night morning city house road journey secret letter daughter kingdom "
    "shadow glass iron paper golden silver lost found last first little great wild quiet"
).split()
STARS = ["One", "Two", "Three", "Four", "Five"]
SENTENCE_WORDS = (
    "a the of and to in story young woman man family finds discovers must between world "
    "years after before when her his their new old dark bright memory truth love war home "
    "across against beyond through small town distant island long forgotten promise secret "
    "life death hope fear courage friendship betrayal journey change everything"
).split()
BASE_TIME = datetime.datetime(2026, 11, 1, 6, 0, 0, tzinfo=datetime.timezone.utc)
UPC_MUL = 0x9E3779B97F4A7C15  # odd, so i -> i*MUL + ADD (mod 2^64) is a bijection: unique UPCs
UPC_ADD = 0xA0761D6478BD642F


def title(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(1, 5))]
    t = " ".join(words).capitalize()
    if rng.random() < 0.15:
        t += ": " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3))).title()
    return t


def description(rng, chars):
    target = rng.randint(chars * 2 // 3, chars * 4 // 3)
    out = []
    while sum(len(w) + 1 for w in out) < target:
        out.append(rng.choice(SENTENCE_WORDS))
    return " ".join(out).capitalize() + "."


def record(i, rng, description_chars=70):
    t = title(rng)
    pence = rng.randint(1000, 5999)
    price = pence / 100
    rating = rng.randint(1, 5)
    stock = rng.randint(0, 22)
    slug = "-".join("".join(c for c in w if c.isalnum()) for w in t.lower().split())[:40].strip("-")
    return {
        "title": t,
        "price": f"£{price:.2f}",
        "num_reviews": STARS[rating - 1],
        "upc": f"{(i * UPC_MUL + UPC_ADD) & 0xFFFFFFFFFFFFFFFF:016x}",
        "availability": f"In stock ({stock} available)" if stock else "Out of stock",
        "price_gbp": price,
        "rating": rating,
        "stock": stock,
        "category": rng.choice(CATEGORIES),
        "url": f"https://books.toscrape.com/catalogue/{slug}_{i + 1}/index.html",
        "product_type": "Books",
        "description": description(rng, description_chars),
        "scraped_at": (BASE_TIME + datetime.timedelta(seconds=i // 7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n", type=int)
    p.add_argument("out")
    p.add_argument("--lines", action="store_true", help="JSON Lines instead of a JSON array")
    p.add_argument("--seed", type=int, default=20261128)
    p.add_argument("--description-chars", type=int, default=70,
                   help="about the mean length of the description sentence (default 70: records "
                        "~430 bytes; 150: ~510 bytes)")
    a = p.parse_args()
    rng = random.Random(a.seed)
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    total = 0
    with open(a.out, "w", encoding="utf-8", buffering=1 << 20) as f:
        if not a.lines:
            f.write("[\n")
        for i in range(a.n):
            s = dumps(record(i, rng, a.description_chars))
            total += len(s.encode("utf-8"))
            if a.lines:
                f.write(s + "\n")
            else:
                f.write(s + (",\n" if i + 1 < a.n else "\n"))
        if not a.lines:
            f.write("]\n")
    if a.n:
        print(f"{a.n} records, {total / a.n:.0f} bytes each on average (compact JSON) -> {a.out}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
