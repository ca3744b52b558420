"""The JSON Schemas, shipped inside the installed package as ``webhook.schema_files``."""
