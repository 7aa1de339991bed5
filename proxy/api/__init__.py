"""The /v1/autoskill REST API (DRF)."""
