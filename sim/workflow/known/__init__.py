"""Hand-written workflow types: real ``@task`` code plus per-task size and runtime estimates."""
