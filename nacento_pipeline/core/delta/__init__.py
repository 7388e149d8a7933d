"""What a batch changes in Magento's galleries: the model and one module per step (pure)."""
