"""Read-only investigation tools, one per module; `registry.TOOLS` lists them."""
