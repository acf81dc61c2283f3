"""Handlers, one module per resource; each turns a parsed request into a state call."""
