"""Crisis communication: bulletins, reports, digests, the printable crisis kit."""
