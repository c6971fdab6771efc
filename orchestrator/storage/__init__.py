"""Where the service keeps files: S3-compatible buckets (boto3) and local directories.

Leaf-level like ``db``: it imports only the settings, and ``data``, ``campaigns``,
``scheduler``, ``api`` and ``export`` use it.
"""
