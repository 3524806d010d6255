"""Watch rules and notifiers."""
