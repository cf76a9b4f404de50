"""Importers: contracts written for other tools, turned into harness contracts."""
