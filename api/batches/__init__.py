"""Batches: many sources × many target languages in one request."""
