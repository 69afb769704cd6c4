"""The neutral model: ``message`` (what crosses a channel), ``person`` (one person's
conversation record and states), ``turn`` (what a handler may ask, and what it returns)."""
