"""Deliverables built from a finished dub: the dub mix and the dubbed video."""
