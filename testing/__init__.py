"""Helpers shared by tests/, bench/ and examples/: synthetic photos with exact ground truth.

Never imported by the shipped packages (batch_job, cli, masks) and not in the wheel.
"""
