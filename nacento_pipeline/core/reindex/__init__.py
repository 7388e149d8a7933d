"""Whether and how Magento's indexers must run after a write (pure)."""
