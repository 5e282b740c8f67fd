"""Pydantic models for request bodies, query strings and responses (also the OpenAPI document)."""
