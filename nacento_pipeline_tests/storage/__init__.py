"""Tests of the object stores and the ETag snapshot."""
