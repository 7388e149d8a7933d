"""Object stores behind one protocol (S3, a local folder) and the event queue."""
