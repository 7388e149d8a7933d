"""The readers of the bunch formats: CSV, JSON and Magento's native CSV (pure)."""
