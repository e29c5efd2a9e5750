"""The pipeline: dispatching lines to families, the core schemas, post-steps, `parse()`."""
