"""One module per model family; each exposes make(out_dir) -> dict (what it wrote)."""
