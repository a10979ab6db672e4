"""The pure cost model: Snapshot + PriceBook + policy -> CostFrame. No I/O, no clocks."""
