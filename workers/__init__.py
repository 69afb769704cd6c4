"""RQ jobs: conversation turns and delayed sends (broadcasts and reminders fit here too)."""
