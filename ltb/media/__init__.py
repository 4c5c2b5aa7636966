"""Untrusted media: opening it safely, probing it, decoding its audio, mapping its speech."""
