"""A local stand-in for the provider, faithful enough that the official SDK cannot tell."""
