"""crimecast: spatiotemporal crime-risk forecasting."""

__version__ = "0.1.0"
