"""Near-duplicate detection: normalization, simhash fingerprints, index, verification, clusters. Pure Python (no Scrapy)."""
