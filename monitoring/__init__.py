"""Drift engine: reads SageMaker data capture, compares it with the model baseline, publishes metrics."""
