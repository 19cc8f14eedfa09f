"""The engine: datasets, models, layers, embedding, storage, projection, neighbours.

Nothing under explorer.core imports Qt; all of it works in a notebook or on a server.
"""
