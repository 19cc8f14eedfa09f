"""CNN Feature Explorer: see what a convolutional network has learned about your images."""

__version__ = "0.1.0"
