"""`stalllog vmcore`: the clue a vmcore of a stalling machine gives (issue #13)."""
