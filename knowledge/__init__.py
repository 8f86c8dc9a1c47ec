"""The leaflet, its passages, the search index and the answering logic."""
