"""Magento 2.4.8 database adapter (SQLAlchemy Core)."""
