"""The conversation, one module per part of it and one function per state."""
