"""Conv1d autograder."""
