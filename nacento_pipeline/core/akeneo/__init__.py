"""Akeneo's standard product export (CSV or XLSX, with or without `with_media`) read as a batch.

- `columns`: the export's header: `attribute[-locale][-channel]` column names, translated headers refused;
- `mapping`: which attributes form the gallery, feed the roles and the labels, and which store views the
  locales and channels stand for, checked against the header;
- `media`: media cells (`files/...` paths of the export folder or raw storage keys) and the content-derived,
  Magento-style dispersed gallery value an exported file is copied to;
- `export`: the reader turning export rows into the raw image rows every format yields.
"""
