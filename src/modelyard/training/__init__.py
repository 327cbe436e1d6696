"""Training jobs with SageMaker's training contract: folders, environment, process, limits."""
