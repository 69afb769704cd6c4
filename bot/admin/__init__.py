"""The organiser's HTTP side: ``api`` is the JSON API under /admin/api/."""
