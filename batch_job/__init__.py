"""maskalbum's album pipeline: one implementation, run locally and in the AWS Batch container."""

__version__ = "0.1.0"
