"""Contracts and their JSON Schema, shipped as package data."""

from __future__ import annotations

from pathlib import Path

CONTRACT_DIR = Path(__file__).resolve().parent
SCHEMA_PATH = CONTRACT_DIR / "schema" / "contract.schema.json"
