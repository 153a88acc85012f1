"""The Label Studio API, one module per resource."""
