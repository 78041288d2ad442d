"""The search features: queries, examples, conditions, duplicates, batching."""
