"""The gallery write: plan, statements, chunk transactions, sync, verify, audit."""
